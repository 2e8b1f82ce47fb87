"""Logging in through the login form with a test client, as a browser does."""

import re

SESSION_COOKIE = "utskick_session"
HTML = {"Accept": "text/html"}


def csrf_token(page):
    """The CSRF token of a page's forms."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def log_in(client, username, password, next_path="/"):
    """Post the login form; the client keeps the session cookie. Returns the answer."""
    form = client.get("/logga-in")
    return client.post(
        "/logga-in",
        data={"username": username, "password": password, "csrf_token": csrf_token(form),
              "next": next_path},
        follow_redirects=False,
    )  # fmt: skip


def page_token(client, path="/logga-in"):
    """The CSRF token the client's pages carry now (for a logged-in client: its session's)."""
    return csrf_token(client.get(path, headers=HTML))


def set_cookies(response):
    """The Set-Cookie headers of an answer, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}
