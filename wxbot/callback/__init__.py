"""WeChat's deliveries to wxbot: GET|POST /wechat/<name>, received exactly once."""
