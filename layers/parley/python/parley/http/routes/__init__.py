"""One router per resource: each module declares `router`, and `parley.http.app` includes every module."""
