"""Display names of the data words the screens show: stages, roles, routes, job states, weights.

The keys stay what the ledger and the contract say (``casting_inspection``, ``qc``); only
what a screen shows is translated. Stages of the packaged routes, their check labels and
their rework and scrap reasons are listed so that the catalogs carry them; a site's own
stage or reason shows as its words, untranslated. A reason picked on a screen is stored in
the move's note as the routes file writes it (English for the packaged routes).
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
REASONS = (  # the rework and scrap reasons of kiosk/routes/default.toml
    N_("incomplete fill"), N_("cracks"), N_("porosity beyond repair"), N_("wrong alloy"), N_("too thin after filing"),
    N_("porosity"), N_("pits"), N_("stone broken"), N_("solder damage"), N_("bent beyond repair"),
    N_("rough surface"), N_("solder seam visible"), N_("bent link"), N_("plating failed twice"),
    N_("base metal exposed"), N_("burnt"), N_("surface not clean"), N_("loose stone"), N_("plating thickness"),
    N_("plating discoloured"), N_("wrong size"), N_("rework limit reached"), N_("scratches"), N_("wear test failed"),
    N_("clasp faulty"), N_("enamel colour mismatch"), N_("engraving illegible"), N_("client asked for changes"),
    N_("price not approved"), N_("sizing"), N_("proportions"), N_("durability test failed"), N_("ring size"),
    N_("chain length"), N_("comfort"), N_("prong broken off"), N_("setting damaged the piece"),
    N_("stone does not fit"), N_("prong damaged"), N_("stress test failed"), N_("finish under magnification"),
)
METALS = {"silver_925": N_("925 silver"), "vermeil_18ct": N_("18ct gold vermeil 2.5 µm"),
          "gold_plated_brass": N_("gold-plated brass 2 µm"), "gold_9ct": N_("9ct gold"), "gold_14ct": N_("14ct gold"),
          "gold_18ct": N_("18ct gold"), "platinum_950": N_("950 platinum")}
ROLES = {"artisan": N_("artisan"), "setter": N_("setter"), "qc": N_("qc"), "engraver": N_("engraver"),
         "supervisor": N_("supervisor")}
ROUTES = {"production": N_("production"), "bespoke": N_("bespoke")}
JOB_STATES = {"accepted": N_("accepted"), "running": N_("running"), "done": N_("done"), "failed": N_("failed"),
              "interrupted": N_("interrupted"), "rejected": N_("rejected"), "cancelled": N_("cancelled")}
WORK_STATES = {"working": N_("working"), "paused": N_("paused"), "done": N_("done")}
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


def work_state_label(state: str) -> str:
    return translate(WORK_STATES.get(state, state))


def reason_label(reason: str) -> str:
    """Return a route's rework or scrap reason (or a note) as words, translated when the catalogs know it."""
    return translate(reason) if reason in REASONS else reason
