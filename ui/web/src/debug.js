// A read-only view of what the page did, for the browser tests and for measuring:
// window.__foresight = {state, runs, error, chart: {series, points, bands, bandMaxX,
// lastSampleX, anomalies, visible, fetchMs, renderMs}, table, follow, page}.
export const debug = { state: "idle", runs: 0, error: null, chart: null, table: null, follow: null, page: null };
window.__foresight = debug;
