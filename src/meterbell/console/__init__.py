"""The console: server-rendered pages for people, at `/console`, on the same services as the
API. `web.py` wires it into the app; `session.py` signs people in and checks CSRF tokens;
`rendering.py` holds the templates; one module per page family beside them."""
