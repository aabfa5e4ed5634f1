"""The bureau's cockpit, 揭榜挂帅 from draft to award, and the admin's page in a real headless Chromium, at a
laptop's width (1280) and a phone's (390); the screenshots in docs/screenshots/ are taken here."""

from __future__ import annotations

import pytest
from test_api_browser import CHROMIUM, DRIVER, browser, login, server, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="headless browser tests need Debian chromium and chromium-driver")
LAPTOP, PHONE = 1280, 390


def full_page(driver, name: str, width: int) -> None:
    """A screenshot of the whole page at ``width`` (the window grows to the page's height, up to a limit)."""
    driver.set_window_size(width, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 120, 5000))
    shot(driver, f"{name}-{width}")


def page_width(driver) -> int:
    return driver.execute_script("return document.documentElement.scrollWidth")


def submit(driver, button) -> None:
    """Click a button that posts a form and wait until the next page has replaced this one: the click returns
    before that, and an element both pages have (a status, the flash) read at once may be the old page's, which
    goes stale under the reader."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))


def flash_says(driver, expected: str) -> None:
    """Wait for the page's flash message to say ``expected``. A click that posts a form returns before the next page
    has replaced this one: a flash read at once may be the previous page's, and go stale under the reader."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: expected in d.find_element(By.ID, "flash").text)


def logout(driver) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "logout").click()


def test_the_bureau_reads_the_cockpit_at_laptop_and_phone_width(server, browser):
    from selenium.webdriver.common.by import By

    base, _ = server
    login(browser, base, "bureau")
    browser.find_element(By.ID, "nav-bureau").click()
    assert "科技局驾驶舱" in browser.find_element(By.TAG_NAME, "h1").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#target-table tr.target-row")
    assert len(rows) == 12 and any("滞后" in r.text for r in rows)
    chart = browser.find_element(By.CSS_SELECTOR, "#targets svg.chart")
    assert chart.size["width"] > 300 and "高新技术企业" in chart.text
    assert browser.find_elements(By.CSS_SELECTOR, "#status-grid td.cell")
    assert browser.find_elements(By.CSS_SELECTOR, "#counties svg.chart") and browser.find_elements(
        By.CSS_SELECTOR, "#trend svg.chart")
    segments = browser.find_elements(By.CSS_SELECTOR, "#gap-map a.segment")
    assert len(segments) > 20
    # the map reads: names and numbers in real text, at a real size
    name = segments[0].find_element(By.CSS_SELECTOR, ".seg-name")
    assert float(name.value_of_css_property("font-size").rstrip("px")) >= 13
    full_page(browser, "cockpit", LAPTOP)
    browser.set_window_size(PHONE, 900)
    browser.refresh()
    assert page_width(browser) <= PHONE + 10, f"the cockpit is {page_width(browser)}px wide on a {PHONE}px phone"
    chart = browser.find_element(By.CSS_SELECTOR, "#targets svg.chart")
    assert chart.size["width"] <= PHONE
    full_page(browser, "cockpit", PHONE)
    # a segment opens its needs, supply and candidate projects; one click makes a 揭榜挂帅 draft
    browser.set_window_size(LAPTOP, 900)
    browser.get(f"{base}/bureau/segments/seg-hv-power-electronics")
    assert "高压电气 · 电力电子" in browser.find_element(By.ID, "segment-name").text
    assert "碳化硅功率模块封装与驱动技术" in browser.find_element(By.ID, "needs").text
    full_page(browser, "cockpit-segment", PHONE)
    browser.set_window_size(LAPTOP, 900)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#topics button.draft-topic"))
    flash_says(browser, "已根据候选专题生成榜单草稿")
    assert browser.find_element(By.ID, "c-name").get_attribute("value")
    assert "另有 1 项未公开的企业需求" in browser.find_element(By.ID, "c-statement").get_attribute("value")


def test_a_challenge_goes_from_draft_to_award_in_the_browser(server, browser, _session_store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = server
    login(browser, base, "bureau")
    browser.find_element(By.ID, "nav-challenges").click()
    browser.find_element(By.ID, "new-challenge").click()
    browser.find_element(By.ID, "c-name").send_keys("GIS盆式绝缘子局部放电在线诊断")
    browser.find_element(By.ID, "c-statement").send_keys("研制GIS盆式绝缘子局部放电在线诊断系统，检出灵敏度不低于5pC。")
    Select(browser.find_element(By.ID, "c-segment")).select_by_value("seg-hv-insulation")
    browser.find_element(By.ID, "c-budget").send_keys("500")
    browser.execute_script("arguments[0].value = '2027-12-31'", browser.find_element(By.ID, "c-deadline"))
    browser.find_element(By.ID, "c-competences").send_keys("局部放电、表面电荷、环氧绝缘材料")
    browser.find_element(By.ID, "c-local").send_keys("联合平顶山绝缘件企业实施")
    browser.find_element(By.ID, "c-milestones").send_keys("样机研制 2027-06-30\n挂网试运行 2027-12-31")
    full_page(browser, "challenge-form", PHONE)
    browser.set_window_size(LAPTOP, 900)
    submit(browser, browser.find_element(By.ID, "save-challenge"))
    flash_says(browser, "榜单草稿已保存")
    assert browser.find_element(By.ID, "challenge-status").text == "草稿"
    desk = browser.current_url
    submit(browser, browser.find_element(By.ID, "to-published"))
    assert browser.find_element(By.ID, "challenge-status").text == "已发布榜单"
    submit(browser, browser.find_element(By.ID, "to-applications_open"))
    assert browser.find_element(By.ID, "challenge-status").text == "接受揭榜申报"
    challenge_id = desk.rstrip("/").split("/")[-1].split("?")[0]
    logout(browser)

    # a broker applies on behalf of a university's team, from the public notice
    login(browser, base, "broker")
    browser.find_element(By.ID, "nav-challenges").click()
    browser.find_element(By.LINK_TEXT, "GIS盆式绝缘子局部放电在线诊断").click()
    assert "局部放电" in browser.find_element(By.ID, "competences").text
    full_page(browser, "challenge-notice", PHONE)
    browser.set_window_size(LAPTOP, 900)
    browser.find_element(By.ID, "apply").click()
    Select(browser.find_element(By.ID, "applicant")).select_by_value("Institution:inst-xjtu")
    browser.find_element(By.ID, "team-name").send_keys("西安交大GIS绝缘团队")
    Select(browser.find_element(By.ID, "lead")).select_by_value("tal-11")
    browser.find_element(By.ID, "members").send_keys("董雪")
    Select(browser.find_element(By.ID, "partner")).select_by_value("ent-jiecheng-insulator")
    browser.find_element(By.ID, "plan").send_keys("一年完成样机，两年完成挂网试运行。")
    shot(browser, "challenge-apply")
    submit(browser, browser.find_element(By.ID, "submit-application"))
    flash_says(browser, "揭榜申报已提交")
    assert "已提交" in browser.find_element(By.ID, "my-applications").text
    browser.get(f"{base}/bureau/challenges/{challenge_id}")  # the desk is the bureau's
    assert "无权" in browser.find_element(By.ID, "error-detail").text
    logout(browser)

    # the bureau sees recommended teams, the application with its fit and conflicts, reviews and awards
    login(browser, base, "bureau")
    browser.get(f"{base}/bureau/challenges/{challenge_id}")
    teams = browser.find_elements(By.CSS_SELECTOR, "#teams .team")
    assert teams and "/100" in teams[0].text and "牵头人" in teams[0].text
    score = int(teams[0].find_element(By.CSS_SELECTOR, ".score").text.split("/")[0])
    assert 0 <= score <= 100
    assert teams[0].find_element(By.CSS_SELECTOR, "svg.chart")  # what each member covers, as a picture
    application = browser.find_element(By.CSS_SELECTOR, "#applications .application")
    assert "西安交大GIS绝缘团队" in application.text and "西安交通大学" in application.text
    full_page(browser, "challenge-teams", LAPTOP)
    full_page(browser, "challenge-teams", PHONE)
    assert page_width(browser) <= PHONE + 10
    browser.set_window_size(LAPTOP, 900)
    application.find_element(By.CSS_SELECTOR, "input.review-score").send_keys("88")
    application.find_element(By.NAME, "comment").send_keys("方案可行，团队协作基础好")
    submit(browser, application.find_element(By.CSS_SELECTOR, "button.review-submit"))
    flash_says(browser, "评审意见已保存")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#applications button.award"))
    flash_says(browser, "已确定揭榜方")
    assert browser.find_element(By.ID, "challenge-status").text == "已确定揭榜方"
    assert "揭榜成功" in browser.find_element(By.ID, "applications").text
    winners = {r["id"] for r in _session_store.read(
        "MATCH (t:Talent)-[:SOLVES]->(:Challenge {id: $id}) RETURN t.id AS id", id=challenge_id)}
    assert winners == {"tal-11", "tal-12"}


def test_the_admin_manages_accounts_by_name_at_laptop_and_phone_width(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = server
    login(browser, base, "admin")
    assert browser.current_url.endswith("/admin")
    users = browser.find_element(By.ID, "users").text
    assert "中国平煤神马集团尼龙科技有限公司" in users and "ent-pmsm-nylon" not in users
    browser.find_element(By.ID, "u-name").send_keys("wugang-eng")
    browser.find_element(By.ID, "u-full").send_keys("王工")
    Select(browser.find_element(By.ID, "u-role")).select_by_value("enterprise")
    browser.find_element(By.ID, "u-ent").send_keys("舞阳钢铁有限责任公司")
    browser.find_element(By.ID, "u-pass").send_keys("pass-word-456")
    browser.find_element(By.ID, "create-user-submit").click()
    assert "用户已创建" in browser.find_element(By.ID, "admin-flash").text
    row = browser.find_element(By.CSS_SELECTOR, '#users tr[data-user="wugang-eng"]')
    assert "舞阳钢铁有限责任公司" in row.text and "王工" in row.text
    row.find_element(By.XPATH, "following-sibling::tr[1]//summary").click()
    row.find_element(By.XPATH, "following-sibling::tr[1]//button[contains(@class, 'issue-key')]").click()
    key = browser.find_element(By.ID, "new-key")
    assert "wugang-eng" in key.text and "tm_" in key.text and "只显示这一次" in key.text
    full_page(browser, "admin", LAPTOP)
    full_page(browser, "admin", PHONE)
    assert page_width(browser) <= PHONE + 10, f"the admin page is {page_width(browser)}px wide on a phone"
    browser.set_window_size(LAPTOP, 900)
    browser.get(f"{base}/admin")
    browser.find_element(By.ID, "u-name").send_keys("nobody-eng")
    browser.find_element(By.ID, "u-ent").send_keys("不存在的公司")
    browser.find_element(By.ID, "create-user-submit").click()
    assert "全称" in browser.find_element(By.ID, "admin-error").text
