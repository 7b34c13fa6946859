"""The adapter registry: versions, aliases, history and artifacts (see DESIGN.md, "Registry").

Modules: ``models`` (plain records), ``schema`` (tables + migrations), ``db`` (engines and
transactions), ``store`` (``Registry``: versions), ``aliases`` (its alias operations), ``rows``
(the name lock and row lookups both share), ``records`` (``RecordStore``), ``artifacts``
(``ArtifactStore``), ``rollouts`` (``RolloutStore``: online rollouts and their audit trail), ``live``
(``LiveStore``: which version served a live request, and its feedback), ``paging`` (page tokens).
Adapter references are parsed by
``lorafleet.refs``; the gRPC edge is ``lorafleet.server.registry_service``. Import what you need
from the submodule; this package imports nothing.
"""
