"""A working day in a real headless Chromium: the enterprise posts a need and confirms its chain segment, the
broker finds it in the queue, accepts a match, records the contact and the negotiation and signs the contract
(the bureau's contract turnover moves by its amount), a file uploaded in the browser brings a fitting
achievement and the enterprise is told, and a rejected match is listed and undone. Screenshots of each page
go to docs/screenshots/. Skipped without Debian chromium and chromium-driver."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime

import pytest
from test_api_browser import CHROMIUM, DRIVER, login, shot
from test_api_browser import browser as browser  # noqa: F401 - a fixture
from test_api_browser import server as server  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="headless browser tests need Debian chromium and chromium-driver")
NEED = "尼龙66回收料熔体过滤器频繁堵塞"


def _wait_jobs(service) -> None:  # noqa: ANN001
    base, world = service
    app = world.app  # type: ignore[attr-defined]
    assert app.state.jobs.wait_idle(180)


def _after(driver, message: str) -> None:  # noqa: ANN001
    """Wait for the page a form post redirects to (its flash message), not the page the click left."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: f"msg={message}" in d.current_url)


def _by(driver, how: str, what: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By

    return driver.find_element(getattr(By, how), what)


def test_enterprise_posts_a_need_and_confirms_its_segment(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "nylon")
    browser.get(f"{base}/enterprise")
    _by(browser, "ID", "need-name").send_keys(NEED)
    _by(browser, "ID", "need-description").send_keys(
        "回收尼龙66切片熔融挤出时熔体过滤器很快堵塞，换网频繁，希望引进高效熔体过滤或在线反冲洗技术。")
    _by(browser, "ID", "need-contact").send_keys("刘工")
    _by(browser, "ID", "suggest-segments").click()
    boxes = browser.find_elements(By.CSS_SELECTOR, "#segment-choices input[name=segment_ids]:checked")
    assert boxes, "the classifier suggests a segment, checked for the enterprise to confirm"
    assert _by(browser, "ID", "need-name").get_attribute("value") == NEED, "what was typed is kept"
    shot(browser, "enterprise-need-form")
    _by(browser, "ID", "post-need").click()
    assert "需求已发布" in _by(browser, "ID", "flash").text
    assert browser.find_elements(By.CSS_SELECTOR, "#matches li.match .band") or browser.find_elements(By.ID, "gap")
    shot(browser, "enterprise-need-posted")


def test_broker_finds_it_in_the_queue_and_carries_a_match_to_a_signed_contract(server, browser):
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from bureau.targets import tech_contract_turnover

    base, world = server
    store = world.app.state.store  # type: ignore[attr-defined]
    year = datetime.now(UTC).year
    before = sum(f.value for f in tech_contract_turnover(store) if f.year == year)
    login(browser, base, "broker")
    browser.get(f"{base}/queue")
    assert NEED in _by(browser, "ID", "queue-needs").text
    shot(browser, "broker-queue")
    browser.get(f"{base}/needs/need-01?weak=1")  # the demo's history judged the best ones already
    fresh = [m for m in browser.find_elements(By.CSS_SELECTOR, "#matches li.match")
             if not m.find_elements(By.CSS_SELECTOR, "[class*=verdict-]")]
    fresh[0].find_element(By.CSS_SELECTOR, "a.match-link").click()
    _by(browser, "ID", "accept").click()
    _after(browser, "accepted")
    assert "对接已开始" in _by(browser, "ID", "flash").text
    _by(browser, "CSS_SELECTOR", "#docking-link a").click()
    _by(browser, "ID", "who").send_keys("郑州大学技术转移中心 张老师")
    Select(_by(browser, "ID", "channel")).select_by_value("电话")
    _by(browser, "ID", "contact-note").send_keys("约定下周走访实验室")
    _by(browser, "ID", "save-contact").click()
    _after(browser, "docking")
    _by(browser, "ID", "note").send_keys("走访实验室，中试线运行正常；对方报价 80 万元，可许可。")
    _by(browser, "ID", "to-negotiating").click()
    _by(browser, "ID", "save-note").click()
    # the page reloads after the save: an element read just before the reload goes stale (or Chrome answers that
    # its node left the document), read it again
    WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException, WebDriverException)).until(
        lambda d: "洽谈中" in d.find_element(By.CSS_SELECTOR, "#stages .now").text)
    assert "洽谈中" in _by(browser, "CSS_SELECTOR", "#stages .now").text
    Select(_by(browser, "ID", "contract_type")).select_by_value("技术许可")
    _by(browser, "ID", "amount_wan").send_keys("80")
    _by(browser, "ID", "contract_no").send_keys("PDS-2026-0815")
    shot(browser, "docking")
    _by(browser, "ID", "sign").click()
    _after(browser, "signed")
    assert "合同已登记" in _by(browser, "ID", "flash").text
    assert "80 万元" in _by(browser, "ID", "contract").text
    after = sum(f.value for f in tech_contract_turnover(store) if f.year == year)
    assert after == before + 80.0
    browser.get(f"{base}/dockings")
    assert _by(browser, "CSS_SELECTOR", ".col[data-stage=signed]").text.count("尼龙66") >= 1
    shot(browser, "docking-board")


def test_an_uploaded_achievement_that_fits_tells_the_enterprise(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "broker")
    browser.get(f"{base}/upload")
    csv = ("成果名称,成果简介,成熟度,合作方式\n"
           "尼龙66回收料熔体高效过滤与在线反冲洗技术,针对回收尼龙66熔体过滤器堵塞、换网频繁，采用梯度烧结金属滤芯与在线"
           "反冲洗，过滤器寿命提高三倍。,产业化,许可\n"
           ",缺少名称的一行,中试,转让\n")
    path = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
    path.write(csv)
    path.close()
    _by(browser, "ID", "file").send_keys(path.name)
    shot(browser, "upload")
    _by(browser, "ID", "upload").click()
    _wait_jobs(server)
    deadline = time.monotonic() + 60
    while "加载完成" not in _by(browser, "ID", "job-status").text and time.monotonic() < deadline:
        browser.refresh()
        time.sleep(1)
    assert "被拒绝 1" in _by(browser, "ID", "report").text
    assert browser.find_elements(By.ID, "download-rejects")
    shot(browser, "upload-job")
    _wait_jobs(server)
    _by(browser, "ID", "logout").click()
    login(browser, base, "nylon")
    assert _by(browser, "ID", "unread").text.isdigit()
    browser.get(f"{base}/inbox")
    items = _by(browser, "ID", "notifications").text
    assert "新成果可能满足需求" in items and NEED in items
    shot(browser, "inbox")


def test_a_rejected_match_is_listed_with_its_reason_and_can_be_undone(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = server
    login(browser, base, "broker")
    browser.get(f"{base}/needs/need-01")
    link = browser.find_elements(By.CSS_SELECTOR, "#matches li.match")[-1]
    candidate = link.get_attribute("data-candidate")
    link.find_element(By.CSS_SELECTOR, "a.match-link").click()
    assert not Select(_by(browser, "ID", "reject-reason")).first_selected_option.get_attribute("value"), \
        "no reason is chosen for the user"
    Select(_by(browser, "ID", "reject-reason")).select_by_value("immature")
    _by(browser, "ID", "reject").click()
    _after(browser, "rejected")
    assert "已拒绝该匹配" in _by(browser, "ID", "flash").text and "已拒绝" in _by(browser, "ID", "verdict-state").text
    browser.get(f"{base}/needs/need-01")
    rejected = _by(browser, "ID", "rejected")
    assert "成熟度不够" in rejected.text
    shot(browser, "rejected-list")
    rejected.find_element(By.CSS_SELECTOR, f"li[data-candidate='{candidate}'] button.undo").click()
    _after(browser, "withdrawn")
    assert "已撤销评价" in _by(browser, "ID", "flash").text
    assert not browser.find_elements(By.CSS_SELECTOR, f"#rejected li[data-candidate='{candidate}']")
    assert browser.find_elements(By.CSS_SELECTOR, f"#matches li[data-candidate='{candidate}']")
