"""The HTTP face of a server: the Flask blueprint, its request handlers, the
status page, Prometheus metrics and the OpenAPI document.
"""
