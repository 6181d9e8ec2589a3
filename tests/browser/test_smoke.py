from playwright.sync_api import Page, expect

from tests.e2e.server import MeterbellServer


def test_the_browser_reaches_the_server(page: Page, server: MeterbellServer) -> None:
    page.goto(server.url("/docs"))
    expect(page).to_have_title("meterbell - Swagger UI")
