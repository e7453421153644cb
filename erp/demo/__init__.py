"""A deterministic, realistic demo dataset for `manage.py seed_demo`.

`seed.demo_data_seed` is the entry point; the other modules each build one part of the data
(network, catalog, people, orders) or write it (`bulk`) or clear it (`reset`).
"""
