"""The workspace in a real headless Chromium (Selenium), as its users would use it: log in, search, open a
need's matches, open one match with its graph, accept it; post a need; what each role can and cannot see.
Screenshots of the main pages go to docs/screenshots/. Skipped when chromium or chromedriver is absent."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import PASSWORD, build_demo_world, make_api

from graph.model import NodeLabel

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="headless browser tests need Debian chromium and chromium-driver")
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(_session_store, tmp_path_factory) -> Iterator[tuple[str, object]]:
    import uvicorn

    _session_store.clear()
    world = build_demo_world(_session_store)
    app = make_api(_session_store, tmp_path_factory.mktemp("svc"))
    world.app = app  # type: ignore[attr-defined]  # tests reach the service's state (jobs, store) through it
    app.state.engine_provider()  # build the engine before the browser's first request
    app.state.jobs.wait_idle(300)  # and the needs' standing matches, as a started service does
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", world
    srv.should_exit = True
    thread.join(timeout=10)
    _session_store.clear()


@pytest.fixture()
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tm-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900", "--lang=zh-CN"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(5)  # a click that navigates returns before the next page is there
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def login(driver, base: str, who: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(who)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def test_broker_searches_opens_a_match_and_accepts_it(server, browser, _session_store):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "broker")
    box = browser.find_element(By.ID, "q")
    box.send_keys("尼龙66切片")
    browser.find_element(By.ID, "search-submit").click()
    browser.find_element(By.ID, "text-matches")
    assert "尼龙66切片长时熔体保持后黄变问题" in browser.find_element(By.ID, "need-results").text
    assert browser.find_elements(By.CSS_SELECTOR, "#text-matches li")
    shot(browser, "search")
    browser.find_element(By.LINK_TEXT, "尼龙66切片长时熔体保持后黄变问题").click()
    matches = browser.find_elements(By.CSS_SELECTOR, "#matches li.match")
    assert matches and matches[0].get_attribute("data-candidate") == "ach-01"
    assert "置信度" in matches[0].text and matches[0].find_elements(By.CSS_SELECTOR, ".band")
    shot(browser, "need-matches")
    # the demo's history already holds verdicts on the best matches: take the best one nobody judged yet
    browser.find_element(By.ID, "show-weak").click()
    fresh = [m for m in browser.find_elements(By.CSS_SELECTOR, "#matches li.match")
             if not m.find_elements(By.CSS_SELECTOR, "[class*=verdict-]")]
    assert fresh, "a match without a verdict"
    candidate = fresh[0].get_attribute("data-candidate")
    fresh[0].find_element(By.CSS_SELECTOR, "a.match-link").click()
    browser.find_element(By.ID, "match-title")
    svg = browser.find_element(By.CSS_SELECTOR, "#graph svg")
    assert svg.size["width"] > 300 and "成果" in svg.text
    shot(browser, "match-detail")
    browser.find_element(By.ID, "accept").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda d: "msg=accepted" in d.current_url)
    assert "已接受该匹配" in browser.find_element(By.ID, "flash").text
    assert "已接受" in browser.find_element(By.ID, "verdict-state").text
    stored = _session_store.read(
        "MATCH (f:Feedback {query_id: 'need-01', candidate_id: $c}) RETURN f.verdict AS v, f.user AS u", c=candidate)
    assert {"v": "accept", "u": "brk-01"} in stored


def test_broker_rejects_with_a_reason(server, browser, _session_store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = server
    login(browser, base, "broker")
    browser.get(f"{base}/needs/need-01")
    browser.find_elements(By.CSS_SELECTOR, "#matches a.match-link")[0].click()
    Select(browser.find_element(By.ID, "reject-reason")).select_by_value("too_expensive")
    browser.find_element(By.ID, "reject").click()
    assert "已拒绝该匹配" in browser.find_element(By.ID, "flash").text
    rows = _session_store.read("MATCH (f:Feedback {query_id: 'need-01', verdict: 'reject'}) RETURN f.reason AS r")
    assert {"r": "too_expensive"} in rows


def test_enterprise_posts_a_private_need_and_watches_it(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = server
    login(browser, base, "switch")
    browser.get(f"{base}/enterprise")
    browser.find_element(By.ID, "need-name").send_keys("GIS断路器机械特性在线监测")
    browser.find_element(By.ID, "need-description").send_keys("需要断路器分合闸机械特性在线监测与故障预警技术。")
    Select(browser.find_element(By.ID, "need-conf")).select_by_value("private")
    browser.find_element(By.ID, "need-budget").send_keys("50")
    shot(browser, "enterprise-post-need")
    browser.find_element(By.ID, "post-need").click()
    assert "需求已发布" in browser.find_element(By.ID, "flash").text
    assert browser.find_element(By.ID, "need-name").text == "GIS断路器机械特性在线监测"
    browser.get(f"{base}/needs/need-02")
    assert browser.find_element(By.ID, "reveal")  # its own private need: it may agree to reveal
    browser.set_window_size(390, 844)  # a phone
    shot(browser, "phone-need")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"page is {width}px wide on a 390px phone"


def test_other_roles_see_the_private_need_desensitised(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "nylon")
    browser.get(f"{base}/needs")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "【脱敏需求】" in text and "瑞能" not in text
    shot(browser, "desensitised-need")
    browser.get(f"{base}/needs/need-02")  # opening it by its id: as if it did not exist
    assert "没有该需求" in browser.find_element(By.ID, "error-detail").text
    assert "瑞能" not in browser.find_element(By.TAG_NAME, "main").text


def test_bureau_sees_the_cockpit_and_others_do_not(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "bureau")
    browser.get(f"{base}/needs/need-02")  # a full view of a private need, which the audit log names
    browser.get(f"{base}/bureau")
    assert "科技局驾驶舱" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "#challenges tr")
    shot(browser, "bureau")
    browser.find_element(By.ID, "audit-link").click()
    assert "126kV GIS盆式绝缘子沿面闪络与局部放电故障" in browser.find_element(By.ID, "audit").text
    browser.find_element(By.ID, "logout").click()
    login(browser, base, "broker")
    assert not browser.find_elements(By.ID, "nav-bureau")
    browser.get(f"{base}/bureau")
    assert "你无权查看统计、报表与审计日志" in browser.find_element(By.ID, "error-detail").text


def test_audit_holds_the_full_views_of_the_private_need(server, _session_store):
    rows = _session_store.read(
        f"MATCH (a:{NodeLabel.AUDIT_EVENT.value} {{target_id: 'need-02', action: 'view_need'}}) RETURN a.detail AS d")
    assert rows and {r["d"] for r in rows} == {"full"}  # the enterprise's own views; desensitised rows are not logged


def test_bureau_opens_a_challenge_with_recommended_teams(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "bureau")
    browser.get(f"{base}/bureau")
    browser.find_element(By.CSS_SELECTOR, "#challenges a").click()
    browser.find_element(By.ID, "challenge-name")
    assert browser.find_elements(By.CSS_SELECTOR, "#teams .team .score")


def test_enterprise_page_shows_the_best_match_of_each_need(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "nylon")
    browser.get(f"{base}/enterprise")
    lines = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".best-match")]
    assert any("最佳匹配" in line and "置信度" in line for line in lines), lines
    browser.get(f"{base}/needs")
    assert "尼龙66切片长时熔体保持后黄变问题" in browser.find_element(By.ID, "my-needs").text
    shot(browser, "enterprise-needs")
