"""Shuying's IIIF server: Image API 3.0 (level 2), manifests, ALTO, a Collection and the Mirador viewer.

Entry points: :func:`iiif_server.app.create_app` and :func:`iiif_server.serve.serve`.
"""
