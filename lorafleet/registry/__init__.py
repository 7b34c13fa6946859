"""The adapter registry: versions, aliases, history and artifacts (see DESIGN.md, "Registry").

Modules: ``models`` (plain records), ``schema`` (tables + migrations), ``db`` (engines and
transactions), ``store`` (``Registry``), ``records`` (``RecordStore``), ``artifacts``
(``ArtifactStore``), ``refs`` (reference parsing), ``convert`` and ``servicer`` (gRPC edge),
``paging`` (page tokens). Import what you need from the submodule; this package imports nothing
so that ``lorafleet.registry.refs`` stays cheap.
"""
