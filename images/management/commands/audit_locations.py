import json
import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from images.services.audit import audit_run
from stores.exceptions import UnknownStore
from stores.registry import get_store


class Command(BaseCommand):
    help = ("Check every image location (present, right size and, with --deep, right "
            "checksums) and look for objects no database references: leftovers this portal "
            "wrote, and foreign objects it did not; print a report. Nothing is "
            "changed. Exit status 0 when everything is ok, 1 otherwise.")

    def add_arguments(self, parser):
        parser.add_argument("--store", help="audit only this store's locations and objects")
        parser.add_argument("--deep", action="store_true",
                            help="also read every object and compare its md5 and sha512")
        parser.add_argument("--database", default="default",
                            help="database alias whose records are audited ('glance': the "
                                 "Glance database); findings are kept in the portal's own")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, store=None, deep=False, database="default", format="text", **opts):
        if database not in connections:
            raise CommandError(f"Unknown database '{database}'")
        if store:
            try:
                get_store(store)
            except UnknownStore as exc:
                raise CommandError(str(exc)) from None
        progress = self._progress_bar() if self._is_tty(self.stderr) else None
        tally = Counter()
        # The text report needs only the counts and the problems, so memory stays flat
        # however many locations there are; the JSON report lists every finding.
        findings = audit_run(store_name=store, deep=deep, using=database,
                             record=True, progress=progress, tally=tally,
                             keep=None if format == "json" else (lambda f: not f.ok))
        if progress:
            progress.out.write("\n")  # the bar ends its line; stdout keeps the report clean
        if format == "json":
            self.stdout.write(json.dumps([f.as_dict() for f in findings], indent=2))
        else:
            self._report(tally, [f for f in findings if not f.ok])
        if any(finding != "ok" for (_, finding) in tally):
            sys.exit(1)

    @staticmethod
    def _is_tty(stream):
        isatty = getattr(getattr(stream, "_out", stream), "isatty", None)
        return bool(isatty and isatty())

    def _progress_bar(self):
        out = getattr(self.stderr, "_out", sys.stderr)
        width = 40

        def progress(done, total):
            filled = width * done // total if total else width
            out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} locations")
            out.flush()

        progress.out = out
        return progress

    def _report(self, tally, problems):
        by_finding, by_store, bad = Counter(), Counter(), Counter()
        for (store, finding), count in tally.items():
            by_finding[finding] += count
            by_store[store] += count
            if finding != "ok":
                bad[store] += count
        self.stdout.write(f"{sum(tally.values())} findings")
        for name, count in sorted(by_finding.items()):
            self.stdout.write(f"  {name}: {count}")
        self.stdout.write("By store:")
        for name, count in sorted(by_store.items()):
            self.stdout.write(f"  {name or '(none)'}: {count} ({bad[name]} not ok)")
        if problems:
            self.stdout.write("Problems:")
        for f in problems:
            image = f.image_id or "-"
            detail = f" ({f.detail})" if f.detail else ""
            self.stdout.write(f"  {f.finding} {f.store} {image} {f.location}{detail}")
