"""Any screen, any user (issue 14, part 4): the page in Debian's headless chromium at phone
and desktop widths. It fits 360 px and up with no horizontal scroll and a chart whose text
is as large as the page's; every control is reached and operated by keyboard with a
visible focus; all text meets WCAG AA contrast, measured here on the rendered page; and
axe-core (npm, node_modules/axe-core), injected into the page, finds no serious or
critical violation. ENERGO_UPDATE_DOCS=1 writes the screenshots in docs/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = {1366: ROOT / "docs" / "screenshot-app.png", 390: ROOT / "docs" / "screenshot-app-phone.png"}
PHONE, DESKTOP = 390, 1366
MIN_CHART_TEXT_PX = 11.5  # the page's smallest text is 12 px

# The states a household meets besides the plain screen: an auction round with ranks, a
# health banner, an error notice. Rendered through the page's own functions.
ALL_STATES = """async () => {
    const m = await import("/static/app.js");
    m.renderRank({round: {roundId: 12345, closesAt: 0, secondsLeft: 754, lengthS: 900},
                  orders: [{rank: 2, of: 14, side: "buy", remainingWh: 1250, price: "0.4375"},
                           {rank: 11, of: 14, side: "sell", remainingWh: 90125, price: "0.5125"}]});
    m.renderHealth({status: "degraded", stale: true, chainHead: 1234567, indexedBlock: 1234560,
                    indexerLagBlocks: 7, chainHeadAgeS: 1800, readingMaxAgeS: 3600, silentMeters: [3, 4, 17],
                    reasons: ["chain_halted", "index_behind", "silent_meters"]});
    m.toast("not enough WATT to sell 100000 kWh: 2.85 WATT spendable", true);
}"""


@pytest.fixture
def axe_ready():
    if not AXE.is_file():
        pytest.fail("axe-core is not installed: run `npm ci` (make setup does)")
    return AXE


def _overflowing(page) -> list[str]:
    """Elements that stick out of the viewport sideways (what makes a phone scroll)."""
    return page.evaluate("""() => {
        const w = document.documentElement.clientWidth, out = [];
        for (const e of document.body.querySelectorAll("*")) {
            const r = e.getBoundingClientRect();
            if (!r.width || getComputedStyle(e).visibility === "hidden") continue;
            if (r.right > w + 0.5 || r.left < -0.5) out.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className.baseVal ?? e.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
        }
        return out;
    }""")


@pytest.mark.parametrize("width", [360, PHONE])
def test_the_page_fits_a_phone(open_page, width):
    page = open_page(width=width, height=800)
    page.evaluate(ALL_STATES)
    page.wait_for_function("() => document.getElementById('countdown').textContent !== '–'")
    sizes = page.evaluate("() => ({inner: innerWidth, doc: document.documentElement.scrollWidth, "
                          "body: document.body.scrollWidth})")
    assert sizes["inner"] == width
    assert sizes["doc"] <= width and sizes["body"] <= width, (sizes, _overflowing(page)[:12])
    assert _overflowing(page) == []


CHART_TEXT = """() => [...document.querySelectorAll('#chart svg text')].map((t) => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
            left: r.left, right: r.right, top: r.top, bottom: r.bottom};
})"""


@pytest.mark.parametrize("width", [360, PHONE, DESKTOP])
def test_the_charts_text_is_as_legible_as_the_page(open_page, width):
    page = open_page(width=width, height=900)
    page.locator("#chart svg text").first.wait_for()
    labels = page.evaluate(CHART_TEXT)
    assert len(labels) >= 10
    small = [(label["text"], round(label["px"], 1)) for label in labels if label["px"] < MIN_CHART_TEXT_PX]
    assert small == [], f"chart text below {MIN_CHART_TEXT_PX} px at {width} px"
    # and no two labels overprint each other
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            apart = a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
            assert apart, (a, b)
    box = page.evaluate("() => document.querySelector('#chart svg').getBoundingClientRect().toJSON()")
    assert box["right"] <= width and box["height"] >= 180
    cut = [label["text"] for label in labels if label["left"] < box["left"] - 0.5 or label["right"] > box["right"] + 0.5]
    assert cut == []  # no label runs off the chart's edge


def test_the_chart_is_redrawn_for_a_new_width(open_page):
    page = open_page(width=DESKTOP, height=900)
    page.locator("#chart svg text").first.wait_for()
    page.set_viewport_size({"width": PHONE, "height": 900})
    page.wait_for_function("() => document.querySelector('#chart svg').getBoundingClientRect().right <= innerWidth")
    page.wait_for_function(f"() => Math.min(...[...document.querySelectorAll('#chart svg text')].map((t) => "
                           f"parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)) >= {MIN_CHART_TEXT_PX}")


# ------------------------------------------------------------------ keyboard

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    // a radio drawn as a segment shows its focus on the segment (the span after it)
    const shown = e.type === "radio" ? e.nextElementSibling : e;
    const s = getComputedStyle(shown), r = shown.getBoundingClientRect();
    return {id: e.id || e.name + ":" + e.value, text: (e.textContent || "").trim(), tag: e.tagName,
            outline: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth), outlineColor: s.outlineColor,
            shadow: s.boxShadow, visible: r.width > 0 && r.height > 0, focusVisible: e.matches(":focus-visible"),
            top: r.top, bottom: r.bottom, inner: innerHeight};
}"""


def _tab_through(page, steps: int = 60) -> list[dict]:
    """Focus stops met pressing Tab from the top of the page, until focus leaves the page."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    page.mouse.click(2, 2)  # the top bar's corner: sequential navigation starts at the top
    seen = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now is None or (seen and now["id"] == seen[0]["id"] and now["text"] == seen[0]["text"]):
            break
        seen.append(now)
    return seen


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_every_control_is_reached_by_tab_in_reading_order_with_a_visible_focus(open_page, width):
    page = open_page(width=width, height=900)
    page.locator("#my-orders button").first.wait_for()
    stops = _tab_through(page)
    ids = [s["id"] for s in stops]
    expected = ["connect", "side:buy", "order-price", "order-amount", "place-order", "tsl-amount", "deposit", "withdraw"]
    assert [i for i in ids if i in expected] == expected, ids
    cancels = [n for n, s in enumerate(stops) if s["text"] == "Cancel"]
    assert cancels and ids.index("place-order") < cancels[0] <= cancels[-1] < ids.index("tsl-amount")
    for stop in stops:
        assert stop["visible"] and stop["focusVisible"], stop
        assert stop["outline"] not in ("none", "") and stop["outlineWidth"] >= 2, stop
        assert stop["top"] >= 0 and stop["bottom"] <= stop["inner"], stop  # scrolled into view


def test_buy_sell_an_order_and_its_cancel_work_by_keyboard_alone(open_page, scenario):
    page = open_page(width=DESKTOP, height=1500)
    account = scenario.household.address
    bat = scenario.system.battery.functions
    locked_before = bat.lockedWattOf(account).call()
    page.focus("#connect")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.value") == "buy"
    page.keyboard.press("ArrowRight")  # the radio group moves to Sell
    assert page.evaluate("() => [document.activeElement.value, document.querySelector('input[value=sell]').checked]") \
        == ["sell", True]
    sell_bg = page.evaluate("() => getComputedStyle(document.querySelector('input[value=sell] + span')).backgroundColor")
    assert sell_bg not in ("rgba(0, 0, 0, 0)", "transparent")
    page.keyboard.press("Tab")
    page.keyboard.type("0.661")
    page.keyboard.press("Tab")
    page.keyboard.type("0.25")
    page.keyboard.press("Enter")  # submits the form
    row = page.locator('#asks tr[data-price="0.661"]')
    row.wait_for(timeout=20_000)
    assert bat.lockedWattOf(account).call() == locked_before + 250 * 10**15

    mine = page.locator("#my-orders tr", has_text="0.661")
    mine.wait_for()
    page.focus("#order-amount")
    for _ in range(10):  # Tab onwards to this order's Cancel, then Enter
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.closest('tr')?.textContent.includes('0.661') ?? false"):
            break
    else:
        pytest.fail("Tab never reached the new order's Cancel button")
    # the list is drawn again on every block: the focus stays on this order's Cancel
    page.evaluate("() => window.energo.refresh(true)")
    assert page.evaluate("() => document.activeElement.closest('tr')?.textContent.includes('0.661') ?? false")
    page.keyboard.press("Enter")
    row.wait_for(state="detached", timeout=20_000)
    assert bat.lockedWattOf(account).call() == locked_before
    # after the re-render, focus is not lost to the top of the page
    page.wait_for_function("() => document.activeElement && document.activeElement !== document.body")


# ------------------------------------------------------------------ contrast

CONTRAST = """() => {
    const parse = (c) => {
        const m = c.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
        return [r, g, b, a];
    };
    const over = (top, bottom) => {  // top (with alpha) composited over an opaque bottom
        const a = top[3];
        return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
    };
    const lum = (c) => {
        const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const opacity = (e) => { let o = 1; for (let n = e; n && n.nodeType === 1; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; };
    const gradientStops = (img) => (img.match(/rgba?\\([^)]+\\)/g) || []).map(parse);
    // Every background painted under a point, bottom up (what lies under the text, siblings such as
    // the book's depth bars included); a gradient gives each of its colours as a candidate.
    const backgrounds = (x, y, self) => {
        const stack = document.elementsFromPoint(x, y);
        const under = stack.slice(Math.max(0, stack.indexOf(self))).reverse();
        let candidates = [[255, 255, 255, 1]];
        for (const e of under) {
            const s = getComputedStyle(e), o = opacity(e);
            const color = parse(s.backgroundColor);
            if (color && color[3] > 0) { color[3] *= o; candidates = candidates.map((c) => over(color, c)); }
            const stops = gradientStops(s.backgroundImage);
            if (stops.length) candidates = candidates.flatMap((c) => stops.map((g) => { g[3] *= o; return over(g, c); }));
        }
        return candidates;
    };
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const e = node.parentElement;
        if (!node.textContent.trim() || seen.has(e) || e.closest(".hidden, [hidden], title")) continue;
        seen.add(e);
        const range = document.createRange(); range.selectNodeContents(node);
        const rect = range.getBoundingClientRect();
        const box = e.getBoundingClientRect();  // text clipped to a pixel is for screen readers only
        if (!rect.width || !rect.height || box.width <= 1 || box.height <= 1) continue;
        const s = getComputedStyle(e);
        if (s.visibility === "hidden" || e.closest("button:disabled, input:disabled")) continue;
        const fg = parse(e instanceof SVGElement ? s.fill : s.color);
        fg[3] *= opacity(e);
        const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
        const large = size >= 24 || (size >= 18.66 && bold);
        let worst = Infinity;
        for (const [fx, fy] of [[0.5, 0.5], [0.1, 0.5], [0.9, 0.5]]) {
            const x = rect.left + rect.width * fx, y = rect.top + rect.height * fy;
            for (const bg of backgrounds(x, y, e)) worst = Math.min(worst, ratio(over(fg, bg), bg));
        }
        out.push({text: node.textContent.trim().slice(0, 50), cls: e.className.baseVal ?? e.className, id: e.id,
                  ratio: Math.round(worst * 100) / 100, need: large ? 3 : 4.5});
    }
    for (const input of document.querySelectorAll("input[placeholder]")) {
        if (input.value || !input.getClientRects().length) continue;
        const fg = parse(getComputedStyle(input, "::placeholder").color), r = input.getBoundingClientRect();
        const bg = backgrounds(r.left + 4, r.top + r.height / 2, input)[0];
        out.push({text: "placeholder " + input.placeholder, cls: "", id: input.id,
                  ratio: Math.round(ratio(over(fg, bg), bg) * 100) / 100, need: 4.5});
    }
    return out;
}"""


def _contrast(page) -> list[dict]:
    # everything in the viewport at once: elementsFromPoint sees only what is on screen
    height = page.evaluate("() => document.documentElement.scrollHeight")
    width = page.evaluate("() => innerWidth")
    page.set_viewport_size({"width": width, "height": min(height + 10, 8000)})
    page.evaluate("() => window.scrollTo(0, 0)")
    return page.evaluate(CONTRAST)


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_all_text_meets_wcag_aa_contrast(open_page, width):
    page = open_page(width=width, height=900)
    page.evaluate(ALL_STATES)
    page.locator("#chart svg text").first.wait_for()
    measured = _contrast(page)
    assert len(measured) > 60
    failing = [m for m in measured if m["ratio"] < m["need"]]
    assert failing == []
    hint = [m for m in measured if "1 WATT = 1 kWh" in m["text"]]
    assert hint and hint[0]["ratio"] >= 4.5


def test_focus_rings_stand_out_from_their_background(open_page):
    """WCAG 1.4.11: a focus indicator needs 3:1 against what is around it, on the light cards
    and on the dark top bar."""
    page = open_page(width=DESKTOP, height=1500)
    for selector in ["#connect", "#order-price", "#place-order", "#tsl-amount", "#withdraw"]:
        page.focus(selector)
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        shown = page.evaluate("""() => {
            const e = document.activeElement, s = getComputedStyle(e);
            const parse = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
            const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                                 return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
            let bg = null;
            for (let n = e.parentElement; n && !bg; n = n.parentElement) {
                const c = getComputedStyle(n).backgroundColor;
                if (c !== "rgba(0, 0, 0, 0)") bg = c;
            }
            const [a, b] = [lum(parse(s.outlineColor)), lum(parse(bg || "rgb(255,255,255)"))].sort((p, q) => q - p);
            return {id: e.id, ratio: (a + 0.05) / (b + 0.05), style: s.outlineStyle};
        }""")
        assert shown["id"] == selector[1:]
        assert shown["style"] != "none" and shown["ratio"] >= 3, shown


# ------------------------------------------------------------------ axe-core


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_axe_finds_no_serious_or_critical_violation(open_page, axe_ready, width):
    page = open_page(width=width, height=900)
    page.evaluate(ALL_STATES)
    page.locator("#chart svg text").first.wait_for()
    page.add_script_tag(path=str(axe_ready))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations", "incomplete"]});
        const brief = (v) => ({id: v.id, impact: v.impact, help: v.help,
                               nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))});
        return {version: axe.version, violations: r.violations.map(brief), incomplete: r.incomplete.map(brief)};
    }""")
    assert result["version"].startswith("4.")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == []
    assert result["violations"] == []  # moderate and minor ones too


# ------------------------------------------------------------------ what the page says


def test_read_only_account_is_not_called_connected(open_page, scenario):
    account = scenario.household.address
    page = open_page(width=DESKTOP, connect=False, query=f"?account={account.lower()}")
    assert "Connected" not in page.text_content("#connect")
    assert "read-only" in page.text_content("#account-label").lower()
    assert page.text_content("#watt-held") != "–"
    page.fill("#order-price", "0.5")
    page.fill("#order-amount", "0.1")
    page.click("#place-order")
    page.wait_for_function("() => document.getElementById('toast').textContent.includes('read-only')")
    assert page.get_attribute("#toast", "data-kind") == "error"
    assert "eth_sendTransaction" not in page.evaluate("() => window.__testWallet.calls")
    page.click("#connect")  # connecting turns the same screen into the wallet's
    page.wait_for_function("() => !document.getElementById('account-label').textContent.includes('read-only')")
    assert page.text_content("#account-label") == f"{account[:6]}…{account[-4:]}"


def test_no_null_or_undefined_is_shown(open_page):
    page = open_page(width=DESKTOP)
    shown = page.evaluate("""async () => {
        const m = await import("/static/app.js");
        const out = [document.body.innerText];
        m.renderHealth({status: "degraded", stale: true, chainHead: null, indexedBlock: null, indexerLagBlocks: null,
                        chainHeadAgeS: null, readingMaxAgeS: 3600, silentMeters: [], reasons: ["no_index", "node_unreachable"]});
        out.push(document.body.innerText);
        return out;
    }""")
    for text in shown:
        for word in ("null", "undefined", "NaN"):
            assert word not in text
    assert "not indexed yet" in shown[1]


# ------------------------------------------------------------------ screenshots


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_screenshot(open_page, tmp_path, width):
    """The household's screen as a full page at a phone's and a desktop's width.
    ENERGO_UPDATE_DOCS=1 writes them to docs/ (screenshot-app.png, screenshot-app-phone.png)."""
    page = open_page(width=width, height=900)
    page.locator("#chart svg text").first.wait_for()
    page.evaluate("() => document.getElementById('toast').classList.add('hidden')")
    assert page.is_hidden("#toast")
    target = SCREENSHOTS[width] if os.environ.get("ENERGO_UPDATE_DOCS") == "1" else tmp_path / SCREENSHOTS[width].name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 20_000
