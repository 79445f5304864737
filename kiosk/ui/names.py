"""Display names of the data words the screens show: stages, roles, routes, job states, weights.

The keys stay what the ledger and the contract say (``casting_inspection``, ``qc``); only
what a screen shows is translated. Stages of the packaged routes and their check labels are
listed so that the catalogs carry them; a site's own stage shows as its words, untranslated.
"""

from __future__ import annotations

from kiosk.i18n import N_, translate

STAGES = {
    "design": N_("design"), "cad": N_("cad"), "mold": N_("mold"), "wax_tree": N_("wax tree"),
    "casting": N_("casting"), "filing": N_("filing"), "decoration": N_("decoration"), "plating": N_("plating"),
    "enamel": N_("enamel"), "engraving": N_("engraving"), "qc": N_("qc"), "packing": N_("packing"),
    "shipped": N_("shipped"), "consultation": N_("consultation"), "design_approval": N_("design approval"),
    "model": N_("model"), "casting_inspection": N_("casting inspection"), "assembly": N_("assembly"),
    "try_on": N_("try on"), "setting": N_("setting"), "polishing": N_("polishing"), "inspection": N_("inspection"),
    "delivered": N_("delivered"), "scrapped": N_("scrapped"),
}
CHECK_LABELS = (
    N_("Plating thickness"), N_("Chain length"), N_("Finish under the loupe (no pits, porosity or scratches)"),
    N_("Photo of the finished piece"), N_("No pits or porosity"), N_("Stone setting stress test"),
    N_("Inspected under magnification"),
)
METALS = {"silver_925": N_("925 silver"), "vermeil_18ct": N_("18ct gold vermeil 2.5 µm"),
          "gold_plated_brass": N_("gold-plated brass 2 µm"), "gold_9ct": N_("9ct gold"), "gold_14ct": N_("14ct gold"),
          "gold_18ct": N_("18ct gold"), "platinum_950": N_("950 platinum")}
ROLES = {"artisan": N_("artisan"), "setter": N_("setter"), "qc": N_("qc"), "engraver": N_("engraver"),
         "supervisor": N_("supervisor")}
ROUTES = {"production": N_("production"), "bespoke": N_("bespoke")}
JOB_STATES = {"accepted": N_("accepted"), "running": N_("running"), "done": N_("done"), "failed": N_("failed"),
              "interrupted": N_("interrupted"), "rejected": N_("rejected"), "cancelled": N_("cancelled")}
WEIGHTS = {"wax": N_("wax"), "issued": N_("metal issued"), "sprues": N_("sprues"), "scrap": N_("scrap"),
           "filings": N_("filings"), "polishing": N_("polishing dust"), "other": N_("other")}


def stage_label(stage: str | None) -> str:
    """Return a stage as words in this request's language (``casting_inspection`` → ``casting inspection``)."""
    if not stage:
        return "—"
    return translate(STAGES.get(stage, stage.replace("_", " ")))


def metal_label(metal: str, known: str = "") -> str:
    """Return a metal's name on screen (``known``: its contract label, for a metal listed here or not)."""
    if metal in METALS:
        return translate(METALS[metal])
    return known or (metal.replace("_", " ") if metal else "—")


def role_label(role: str) -> str:
    return translate(ROLES.get(role, role))


def route_label(route: str) -> str:
    return translate(ROUTES.get(route, route))


def job_state_label(state: str) -> str:
    return translate(JOB_STATES.get(state, state))


def weight_label(kind: str) -> str:
    """Return what a tree weight or a refining lot's source is, as words."""
    return translate(WEIGHTS.get(kind, kind))


def check_label(label: str) -> str:
    """Return a route check's label, translated when the catalogs know it."""
    return translate(label)
