"""The Usage page: the current project's quotas (usage against limit), and for admins every
project's."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from images.selectors import Caller
from images.services import quotas


def _rows(report):
    """The report's rows with what a bar needs: percent used (None when unlimited) and
    whether the limit is reached."""
    rows = []
    for row in report:
        limit = row["limit"]
        percent = None if limit == quotas.UNLIMITED else \
            (100 if limit == 0 else min(100, round(100 * row["usage"] / limit)))
        rows.append({**row, "percent": percent,
                     "full": limit != quotas.UNLIMITED and row["usage"] >= limit})
    return rows


@login_required
def usage_page(request):
    caller = Caller.of_request(request)
    projects = None
    if caller.admin:
        projects = [{"project": project, "rows": _rows(report)}
                    for project, report in quotas.usage_by_project()]
    return render(request, "images/usage.html", {
        "rows": _rows(quotas.usage_report(caller.project)) if caller.project else None,
        "projects": projects, "resources": quotas.RESOURCES})
