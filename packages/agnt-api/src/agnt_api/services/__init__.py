"""The rules of the marketplace: jobs, transitions, leases, dispatch, results, keys.

Routes and web pages call these; nothing here touches a ``Request``.
"""
