"""KPIs, dashboards, anomaly detection and forecasts. Reads only; nothing imports it."""
