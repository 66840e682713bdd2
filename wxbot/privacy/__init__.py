"""The users' rights and the rules that keep the privacy policy's promises."""
