// The Energo app for one household. Plain ES module: data from the API, transactions
// built by the API (unsigned) and signed by the browser's wallet (EIP-1193).
import { drawDayChart } from "/static/chart.js";

const API = "/api/v1";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const fmt2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtKwh = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
const fmtPrice = new Intl.NumberFormat("en-US", { minimumFractionDigits: 3, maximumFractionDigits: 4 });

// `account` is the household shown; `connected` the wallet's account, when there is one.
// `?account=0x…` shows an account read-only: shown, but not connected, so nothing is signed.
export const state = { account: null, connected: null, head: null, indexed: null, screen: null, market: null,
  roundTimer: null };

const kwh = (wh) => `${fmtKwh.format(wh / 1000)} kWh`;
const tokens = (text) => fmt2.format(Number(text));
const price = (text) => (text === null || text === undefined ? "–" : fmtPrice.format(Number(text)));
const short = (address) => `${address.slice(0, 6)}…${address.slice(-4)}`;

// ------------------------------------------------------------------ API and wallet

const FETCH_TIMEOUT_MS = 8000;

async function api(path, body) {
  const init = body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {};
  // Never wait forever: a request that takes longer says so instead of freezing the page.
  init.signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const response = await fetch(API + path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function wallet() {
  if (!window.ethereum) throw new Error("No wallet found: install a browser wallet (EIP-1193) to trade.");
  return window.ethereum;
}

function walletMessage(error) {
  if (error && (error.code === 4001 || /reject|denied/i.test(error.message || ""))) {
    return "You rejected the transaction in your wallet; nothing was sent.";
  }
  return error?.message || String(error);
}

async function sendTx(tx) {
  const { description, gasLimit: _ethersName, ...params } = tx;  // EIP-1193 takes `gas`
  const hash = await wallet().request({ method: "eth_sendTransaction", params: [params] });
  toast(`Sent: ${description}. Waiting for the block…`);
  for (let i = 0; i < 240; i++) {
    const receipt = await wallet().request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`The transaction failed on-chain (${hash.slice(0, 10)}…).`);
      toast(`Done: ${description}.`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("No receipt yet: the chain may be slow; the page updates when the block arrives.");
}

async function act(button, work) {
  button.disabled = true;
  try {
    await work();
    await refresh(true);
  } catch (error) {
    toast(walletMessage(error), true);
  } finally {
    button.disabled = false;
  }
}

let toastTimer = null;
export function toast(message, isError = false) {
  const box = $("toast");
  box.textContent = message;
  box.className = isError ? "toast error" : "toast";
  box.dataset.kind = isError ? "error" : "info";
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.add("hidden"), isError ? 12000 : 5000);
}

// ------------------------------------------------------------------ rendering

function renderScreen(s) {
  $("watt-held").textContent = tokens(s.watt.wallet);
  $("watt-spendable").textContent = tokens(s.watt.spendable);
  $("watt-locked").textContent = tokens(s.watt.locked);
  const e = s.energy;
  $("generated").textContent = kwh(e.generatedWh);
  $("consumed").textContent = kwh(e.consumedFromBatteryWh + e.consumedFromGridWh);
  $("purchased").textContent = kwh(e.purchasedWh);
  $("sold").textContent = kwh(e.soldWh);
  $("consumed-split").textContent =
    `consumed ${kwh(e.consumedFromBatteryWh)} from the battery and ${kwh(e.consumedFromGridWh)} from the grid · ` +
    `stored ${kwh(e.storedWh)} · spilled ${kwh(e.spilledWh)}`;
  $("tsl-held").textContent = tokens(s.tsl.depositedFree);
  $("tsl-wallet").textContent = tokens(s.tsl.wallet);
  $("tsl-locked").textContent = tokens(s.tsl.locked);
  $("days").innerHTML = s.daysOfStorage === null
    ? "No energy stored: no rent due"
    : `Storage covered for <b>${Math.floor(s.daysOfStorage).toLocaleString("en-US")}</b> days`;
  const saved = Number(s.savings.tsl);
  $("savings").textContent = s.savings.purchasedWh
    ? `Bought ${kwh(s.savings.purchasedWh)} for ${tokens(s.savings.paidTsl)} TSL: ${saved >= 0 ? "saved" : "paid"} ` +
      `${tokens(Math.abs(saved))} TSL ${saved >= 0 ? "against" : "over"} the utility's ${price(s.savings.utilityPrice)} TSL/kWh`
    : `The utility charges ${price(s.savings.utilityPrice)} TSL/kWh: buy from neighbours for less.`;
  renderMyOrders(s.openOrders);
  renderRank(s.rank);
}

// The row whose Cancel has the keyboard's focus (or was pressed): the list is drawn again on
// every block, and a keyboard user must not be thrown back to the top of the page by that.
let focusedOrder = null;

function renderMyOrders(orders) {
  const body = $("my-orders");
  const active = document.activeElement;
  const hadFocus = body.contains(active) || (focusedOrder !== null && (!active || active === document.body));
  const keep = body.contains(active) ? active.closest("tr")?.dataset.orderId ?? null : focusedOrder;
  const index = [...body.children].findIndex((row) => row.dataset.orderId === keep);
  body.replaceChildren();
  if (!orders.length) {
    body.innerHTML = `<tr><td colspan="4" class="muted">No open orders</td></tr>`;
  }
  for (const order of orders) {
    const row = document.createElement("tr");
    row.dataset.orderId = order.orderId;
    const what = `${order.side} ${fmtKwh.format(order.remainingWh / 1000)} kWh at ${price(order.price)}`;
    row.innerHTML = `<td class="side-${order.side}">${order.side}</td><td>${price(order.price)}</td>` +
      `<td>${fmtKwh.format(order.remainingWh / 1000)}</td>` +
      `<td><button class="btn cancel" type="button" aria-label="Cancel order: ${what}">Cancel</button></td>`;
    const button = row.querySelector("button");
    button.addEventListener("click", () => {
      focusedOrder = String(order.orderId);
      act(button, async () => {
        needAccount();
        const tx = await api(`/wallet/orders/${order.orderId}/cancel`, { account: state.account });
        await sendTx(tx);
      });
    });
    button.addEventListener("blur", () => { if (button.isConnected && !button.disabled) focusedOrder = null; });
    body.append(row);
  }
  if (!hadFocus) return;
  // the same order's Cancel; if it is gone, the one now in its place; else the next control
  const buttons = [...body.querySelectorAll("button")];
  const same = buttons.find((b) => b.closest("tr").dataset.orderId === keep);
  const next = same || buttons[Math.min(Math.max(index, 0), buttons.length - 1)] || $("tsl-amount");
  focusedOrder = next.closest("#my-orders") ? next.closest("tr").dataset.orderId : null;
  next.focus();
}

export function renderRank(rank) {
  $("round-card").classList.toggle("hidden", !rank);
  if (!rank) return;
  $("round-id").textContent = rank.round.roundId !== null ? `#${rank.round.roundId}` : "";
  // The API's secondsLeft, counted down on this browser's monotonic clock: neither the
  // browser's wall clock nor the chain's clock (which may run ahead) enters the countdown.
  state.roundEndsAt = performance.now() / 1000 + rank.round.secondsLeft;
  $("ranks").innerHTML = rank.orders.length
    ? rank.orders.map((o) => `<div class="rank">Rank <b>${o.rank}</b> of ${o.of}<br><span class="muted small">` +
        `${o.side} ${fmtKwh.format(o.remainingWh / 1000)} kWh at ${price(o.price)}</span></div>`).join("")
    : `<span class="muted">You have no orders in this round.</span>`;
  tickCountdown();
}

function tickCountdown() {
  if (state.roundEndsAt === undefined) return;
  const left = Math.max(0, Math.round(state.roundEndsAt - performance.now() / 1000));
  const m = Math.floor(left / 60), s = left % 60;
  $("countdown").textContent = `${m}:${String(s).padStart(2, "0")}`;
}

function renderMarket(m, depth) {
  $("market-mode").textContent = m.config.mode === "auction" ? "call auction" : "continuous";
  $("best-bid").textContent = price(m.bestBid);
  $("best-ask").textContent = price(m.bestAsk);
  $("last-price").textContent = price(m.lastPrice);
  $("utility-price").textContent = price(m.utilityPrice);
  const max = Math.max(1, ...depth.bids.map((l) => l.amountWh), ...depth.asks.map((l) => l.amountWh));
  const rows = (levels, kind) => levels.map((l) =>
    `<tr class="${kind}" data-price="${l.price}"><td><span>${price(l.price)}</span>` +
    `<div class="bar" style="width:${(100 * l.amountWh / max).toFixed(1)}%"></div></td>` +
    `<td><span>${fmtKwh.format(l.amountWh / 1000)}</span></td><td><span>${l.orders}</span></td></tr>`).join("");
  $("asks").innerHTML = rows([...depth.asks].reverse(), "ask") || `<tr><td colspan="3" class="muted">no asks</td></tr>`;
  $("bids").innerHTML = rows(depth.bids, "bid") || `<tr><td colspan="3" class="muted">no bids</td></tr>`;
  $("spread").textContent = m.bestBid && m.bestAsk
    ? `spread ${fmtPrice.format(Number(m.bestAsk) - Number(m.bestBid))} TSL/kWh`
    : "no spread";
}

function renderTrades(page) {
  $("trades").innerHTML = page.trades.map((t) =>
    `<tr><td>${new Date(t.timestamp * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}</td>` +
    `<td>${fmtKwh.format(t.amountWh / 1000)}</td><td>${price(t.price)}</td>` +
    `<td>${t.buyer === state.account ? "<b>you</b>" : short(t.buyer)}</td>` +
    `<td>${t.seller === state.account ? "<b>you</b>" : short(t.seller)}</td></tr>`).join("") ||
    `<tr><td colspan="5" class="muted">No trades yet</td></tr>`;
}

function renderStats(stats) {
  const pct = stats.selfSufficiency === null ? "–" : `${Math.round(stats.selfSufficiency * 100)} %`;
  $("stats").innerHTML =
    `<div>self-sufficiency<b>${pct}</b></div><div>generated<b>${kwh(stats.generatedWh)}</b></div>` +
    `<div>traded<b>${kwh(stats.volumeWh)}</b></div><div>average price<b>${price(stats.averagePrice)}</b></div>`;
}

// ------------------------------------------------------------------ refresh loop

export async function refresh(force = false) {
  let health;
  try {
    health = await api("/health");
  } catch (error) {
    $("chain-status").textContent = "API unreachable";
    $("chain-status").className = "pill down";
    $("health-banner").textContent = "The Energo API does not answer: the figures shown may be out of date.";
    $("health-banner").classList.remove("hidden");
    $("health-banner").classList.add("down");
    document.body.dataset.health = "unreachable";
    return;
  }
  const changed = force || health.chainHead !== state.head || health.indexedBlock !== state.indexed;
  state.head = health.chainHead;
  state.indexed = health.indexedBlock;
  renderHealth(health);
  if (!changed) return;
  const jobs = [api("/market"), api("/market/depth?levels=8"), api("/trades?limit=8"),
    api("/community/series?hours=24&bucketMinutes=60"), api("/community/stats?hours=24")];
  if (state.account) jobs.push(api(`/accounts/${state.account}`));
  const [market, depth, trades, series, stats, screen] = await Promise.all(jobs);
  state.market = market;
  renderMarket(market, depth);
  renderTrades(trades);
  drawDayChart($("chart"), series);
  renderStats(stats);
  if (screen) {
    state.screen = screen;
    renderScreen(screen);
  }
  document.body.dataset.block = String(health.indexedBlock);
}

const minutes = (s) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`);

// Stale and degraded states in words: what is wrong and what the figures shown are.
export function renderHealth(health) {
  const reasons = health.reasons || [];
  const down = reasons.includes("node_unreachable") || reasons.includes("chain_halted");
  const lines = [];
  if (reasons.includes("node_unreachable")) {
    lines.push(`The chain node is not answering: figures are from block ${health.chainHead ?? "–"} and may be out of date.`);
  }
  if (reasons.includes("chain_halted")) {
    lines.push(`No new block for ${minutes(health.chainHeadAgeS)}: the chain seems halted; figures may be out of date.`);
  }
  if (reasons.includes("no_index")) lines.push("The history is still being read from the chain.");
  if (reasons.includes("index_behind")) lines.push(`History is ${health.indexerLagBlocks} blocks behind the chain: catching up.`);
  if (reasons.includes("indexer_error") && !reasons.includes("node_unreachable")) {
    lines.push("Reading the chain's history failed; retrying.");
  }
  if (reasons.includes("silent_meters")) {
    const ids = health.silentMeters.join(", ");
    lines.push(`No reading for over ${minutes(health.readingMaxAgeS)} from meter${health.silentMeters.length > 1 ? "s" : ""} ${ids}.`);
  }
  const banner = $("health-banner");
  banner.textContent = lines.join(" ");
  banner.classList.toggle("hidden", lines.length === 0);
  banner.classList.toggle("down", down);
  document.body.dataset.health = health.stale ? "stale" : health.status;
  const block = health.chainHead === null ? "no block yet" : `block ${health.chainHead}`;
  $("chain-status").textContent = down ? `${block} · stale` : health.stale ? `${block} · catching up`
    : health.status === "degraded" ? `${block} · degraded` : block;
  $("chain-status").className = down ? "pill down" : health.stale || health.status === "degraded" ? "pill stale" : "pill ok";
  $("freshness").textContent = health.indexedBlock === null ? "history not indexed yet"
    : `indexed to block ${health.indexedBlock}` + (health.stale ? " (behind the chain)" : "");
}

async function connect() {
  try {
    const accounts = await wallet().request({ method: "eth_requestAccounts" });
    setAccount(accounts[0], true);
  } catch (error) {
    toast(walletMessage(error), true);
  }
}

async function setAccount(address, connected = false) {
  // Wallets may give lower case: the API takes any case and answers the EIP-55 form.
  if (address && address === address.toLowerCase()) {
    try {
      address = (await api(`/accounts/${address}`)).address;
    } catch (error) {
      /* keep it as given: the API accepts it */
    }
  }
  state.account = address;
  state.connected = connected && address ? address : null;
  const readOnly = Boolean(address) && !state.connected;
  $("account-label").textContent = !address ? "no account" : readOnly ? `${short(address)} · read-only` : short(address);
  $("account-label").title = !address ? "" : readOnly ? `${address}, shown read-only: connect a wallet to trade` : address;
  $("connect").textContent = state.connected ? "Connected" : "Connect wallet";
  document.body.dataset.mode = readOnly ? "read-only" : state.connected ? "connected" : "none";
  await refresh(true);
}

// ------------------------------------------------------------------ forms

function needAccount() {
  if (state.account && !state.connected) {
    throw new Error("This screen is read-only (an account from the address bar): connect your wallet to trade.");
  }
  if (!state.connected) throw new Error("Connect your wallet first.");
}

$("order-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  act($("place-order"), async () => {
    needAccount();
    const tx = await api("/wallet/orders", {
      account: state.account, side: form.get("side"), price: String(form.get("price")).trim(),
      amountKwh: String(form.get("amount")).trim(),
    });
    await sendTx(tx);
  });
});

for (const input of [$("order-price"), $("order-amount")]) {
  input.addEventListener("input", () => {
    const p = Number($("order-price").value), a = Number($("order-amount").value);
    $("order-cost").textContent = p > 0 && a > 0 ? `= ${fmt2.format(p * a)} TSL` : "";
  });
}

$("tsl-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act($("deposit"), async () => {
    needAccount();
    const amount = $("tsl-amount").value.trim();
    const permit = await api("/wallet/permit", { account: state.account, amount });
    // eth_signTypedData_v4 wants the domain's type among the types (ethers wants it out).
    const { domainType, ...typed } = permit.typedData;
    const v4 = { ...typed, types: { EIP712Domain: domainType, ...typed.types } };
    const signature = await wallet().request({
      method: "eth_signTypedData_v4", params: [state.account, JSON.stringify(v4)],
    });
    const tx = await api("/wallet/deposit-with-permit", {
      account: state.account, amount, deadline: permit.deadline, signature,
    });
    await sendTx(tx);
  });
});

$("withdraw").addEventListener("click", () => act($("withdraw"), async () => {
  needAccount();
  const tx = await api("/wallet/withdraw", { account: state.account, amount: $("tsl-amount").value.trim() });
  await sendTx(tx);
}));

$("connect").addEventListener("click", connect);

// ------------------------------------------------------------------ start

const fromUrl = new URLSearchParams(location.search).get("account");
if (window.ethereum?.on) window.ethereum.on("accountsChanged", (accounts) => setAccount(accounts[0] || null, true));
setAccount(fromUrl || null);
setInterval(() => refresh().catch(() => {}), POLL_MS);
setInterval(tickCountdown, 1000);
window.energo = { state, refresh, setAccount };
