"""The web page at /ui, driven in headless Chromium against the real gateway: connect with a key, see the
strategies and the accounts per broker, pause and resume one, flip the kill switch through its confirmation
step and see it on the live event stream."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]

webdriver = pytest.importorskip("selenium.webdriver")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMEDRIVER is None:
        pytest.skip("chromium-driver is not installed: `make browser` installs it (needs root or sudo for apt-get)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_the_web_page_shows_and_steers_the_runtime(browser: Any, gateway_url: str, keys: dict[str, str]) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def text(element_id: str) -> str:
        return str(browser.find_element(By.ID, element_id).text)

    def strategy_row(strategy_id: str) -> Any:
        for row in browser.find_elements(By.CSS_SELECTOR, "#strategies tbody tr"):
            if row.find_element(By.TAG_NAME, "td").text == strategy_id:
                return row
        return None

    def state_of(strategy_id: str) -> str:
        return str(strategy_row(strategy_id).find_elements(By.TAG_NAME, "td")[2].text)

    def press(strategy_id: str) -> bool:
        strategy_row(strategy_id).find_element(By.TAG_NAME, "button").click()
        return True

    # The page redraws its tables every few seconds and on every event: a row found a moment ago may be gone.
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,))
    assert httpx.get(f"{gateway_url}/", follow_redirects=False).headers["location"] == "/ui"
    # /ui/classic is this page wherever /ui serves a built app instead (serve_apps.web); without it, /ui is.
    classic = httpx.get(f"{gateway_url}/ui/classic").status_code == 200
    browser.get(f"{gateway_url}/ui/classic" if classic else f"{gateway_url}/ui")
    browser.find_element(By.ID, "key").send_keys(keys["admin"])
    browser.find_element(By.ID, "connect").click()
    wait.until(lambda _: text("status") == "connected" and strategy_row("sma_cross") is not None)
    assert text("risk-state") in ("active", "reducing", "halted")

    wait.until(lambda _: state_of("sma_cross") == "running" and press("sma_cross"))  # Pause
    wait.until(lambda _: state_of("sma_cross") == "paused")
    api = httpx.get(f"{gateway_url}/v1/strategies/sma_cross", headers={"X-API-Key": keys["read"]}).json()
    assert api["state"] == "paused"
    wait.until(lambda _: press("sma_cross"))  # Resume
    wait.until(lambda _: state_of("sma_cross") == "running")

    wait.until(lambda _: {"paper", "paper2"} <= {r.find_element(By.TAG_NAME, "td").text for r in
                                                   browser.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")})

    # The kill switch only asks first: nothing happens until the reason is confirmed.
    browser.find_element(By.ID, "kill-on").click()
    wait.until(lambda _: browser.find_element(By.ID, "confirm").is_displayed())
    assert "cancel" in text("confirm-text")
    browser.find_element(By.ID, "confirm-no").click()  # changed my mind
    assert not browser.find_element(By.ID, "confirm").is_displayed()
    assert httpx.get(f"{gateway_url}/v1/risk", headers={"X-API-Key": keys["read"]}).json()["kill_switch"] is False
    browser.find_element(By.ID, "kill-on").click()
    reason = browser.find_element(By.ID, "confirm-reason")
    reason.clear()
    reason.send_keys("web page test")
    browser.find_element(By.ID, "confirm-yes").click()
    wait.until(lambda _: text("kill-state") == "ON" and text("risk-state") == "halted")
    assert "asked to cancel" in text("risk-result")
    risk = httpx.get(f"{gateway_url}/v1/risk", headers={"X-API-Key": keys["read"]}).json()
    assert risk["reason"].endswith("web page test")  # the reason typed in the confirmation
    wait.until(lambda _: any("risk" in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".event-risk")))
    browser.find_element(By.ID, "kill-off").click()
    browser.find_element(By.ID, "confirm-yes").click()
    wait.until(lambda _: text("kill-state") == "off" and text("risk-state") == "active")
    browser.find_element(By.ID, "flatten").click()
    wait.until(lambda _: "Flatten" in text("confirm-text"))
    browser.find_element(By.ID, "confirm-no").click()  # the flatten button asks too (the API test flattens)
