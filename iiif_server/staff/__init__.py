"""Staff pages of the server: logins with roles, and the conservators' record form (``/staff``).

Mounted by :func:`iiif_server.app.create_app` when it is given a conservation desk
(``workflows.conservation.Workshop``); the public IIIF routes never show records.
"""

from __future__ import annotations

from iiif_server.staff.accounts import Account, AccountError, AccountStore, Role
from iiif_server.staff.desk import ConservationDesk
from iiif_server.staff.routes import StaffConfig, accounts_path, staff_routes
from pipeline.staff_log import COMMAND_LINE, StaffLog, log_path

__all__ = ["COMMAND_LINE", "Account", "AccountError", "AccountStore", "ConservationDesk", "Role", "StaffConfig",
           "StaffLog", "accounts_path", "log_path", "staff_routes"]
