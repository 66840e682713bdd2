def test_health(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_unknown_path_is_404_not_500(client):
    assert client.get("/nope").status_code == 404
