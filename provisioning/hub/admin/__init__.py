"""The hub's admin web page (``/admin/``): server-rendered Jinja pages for provincial IT.

:mod:`accounts` holds hub accounts (argon2, roles, lockout, sessions in the database so
every hub replica knows them), :mod:`routes` the pages. The browser needs no client
certificate for ``/admin`` (uvicorn asks for one optionally; device routes refuse requests
without one), and every page except sign-in requires a signed-in account.
"""

#: Admin page roles, weakest first (each includes the rights of those before it).
ROLES = ("viewer", "operator", "administrator")
