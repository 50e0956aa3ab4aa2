"""Integration health as a first-class object (issue 14): a provider registry discovered from
`integration` events (registry.py), what people say about each provider (app/meta/providers.py),
thresholds as data (health.yaml, config.py), pure computations over the rollups' ProviderRows
(compute.py; rows.py gets the rows, sketch.py the percentiles), the service the pages, the API and
the tracker share (service.py) and the status tracker that records changes as events (tracking.py).
"""
