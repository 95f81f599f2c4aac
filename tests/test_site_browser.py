"""The repository's own site, opened from disk in a real browser (headless Chromium through
Selenium; `make setup` installs Debian's chromium and chromium-driver where apt is there). Set
CLBENCH_SITE_SCREENSHOT=FILE to keep the front page's screenshot (README.md shows one)."""

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: make setup")
from selenium.webdriver.common.by import By  # noqa: E402

REPO = Path(__file__).parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from clbench.site.build import build_site

    return build_site(tmp_path_factory.mktemp("site") / "site", REPO).out


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no chromium and chromedriver on PATH: make setup installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def _open(browser, page: Path):
    browser.get(page.as_uri())
    return browser


def _console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _loaded_images(browser) -> tuple[int, list[str]]:
    images = browser.find_elements(By.CSS_SELECTOR, "article img")
    broken = [image.get_attribute("src") for image in images
              if not browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)]
    return len(images), broken


def test_front_page_loads_with_its_verdict_figure_and_navigation_leads_on(browser, site, tmp_path):
    _open(browser, site / "index.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "clbench"
    assert "What clbench has found so far" in browser.find_element(By.TAG_NAME, "article").text
    count, broken = _loaded_images(browser)
    assert count >= 1 and not broken
    screenshot = Path(os.environ.get("CLBENCH_SITE_SCREENSHOT") or tmp_path / "front.png")
    assert browser.save_screenshot(str(screenshot)) and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser.find_element(By.LINK_TEXT, "Leaderboard").click()
    assert browser.current_url.endswith("leaderboard/index.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Leaderboard"
    assert not _console_errors(browser)


def _column(browser, table, index: int) -> list[float]:
    cells = table.find_elements(By.CSS_SELECTOR, f"tbody tr td:nth-child({index + 1})")
    return [float(cell.text.split()[0].replace("−", "-")) for cell in cells]


def test_a_leaderboard_table_sorts_by_the_column_whose_header_is_clicked(browser, site):
    page = site / "leaderboard" / "fashionmnist_mnist__efficientnet_lite0__epochs=3__freeze_norm_stats=False__train_per_class=200__tuned=True.html"
    _open(browser, page)
    table = browser.find_element(By.CSS_SELECTOR, "article table")
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    column = headers.index("acc")
    before = _column(browser, table, column)
    assert len(before) >= 3 and before != sorted(before) and before != sorted(before, reverse=True)
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[column]
    header.click()
    first = _column(browser, table, column)
    header.click()
    second = _column(browser, table, column)
    assert sorted(before) in (first, second) and sorted(before, reverse=True) in (first, second)
    assert not _console_errors(browser)


def test_every_image_of_every_campaign_page_loads(browser, site):
    pages = sorted((site / "campaigns").rglob("*.html"))
    assert len(pages) >= 10
    shown = 0
    for page in pages:
        _open(browser, page)
        count, broken = _loaded_images(browser)
        assert not broken, (page, broken)
        shown += count
    assert shown >= 20
    assert not _console_errors(browser)


def test_a_record_link_of_a_leaderboard_row_resolves_to_the_record(browser, site):
    _open(browser, site / "leaderboard" / "fashionmnist_mnist__efficientnet_lite2.html")
    browser.find_element(By.CSS_SELECTOR, "article details summary").click()
    link = browser.find_element(By.CSS_SELECTOR, "article details a[href$='.json']")
    name = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    record = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert record["backbone"] == "efficientnet_lite2" and name.startswith(f"{record['stream']}__{record['strategy']}")


def test_search_finds_pages_when_the_site_is_opened_from_disk(browser, site):
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site / "index.html")
    browser.find_element(By.CSS_SELECTOR, "label.md-search__icon, .md-search__input").click()
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.send_keys("random_mask")
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    assert not _console_errors(browser)
