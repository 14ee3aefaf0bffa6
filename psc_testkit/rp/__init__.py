"""RP certification: a vendor's app against the simulator playing PSC, honest then lying.

app_profile (how to reach and read the app), plan (the tests), browser (Chromium drives the
app), engine (a run), verdicts (positive evidence only), report (signed JSON + HTML), command
(`psc-testkit rp`).
"""
