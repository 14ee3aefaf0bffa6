"""The HTML the wallet host shows a person: login (CPS card or e-CPS), e-CPS wait, errors.

Plain server-rendered forms: a browser, the `html_form` driver and a person read the same page.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

TEXT = {
    "fr": {
        "title": "Pro Santé Connect — simulateur",
        "heading": "Connexion avec Pro Santé Connect",
        "choose": "Choisissez votre moyen d'identification",
        "card": "Carte CPS",
        "ecps": "Application e-CPS",
        "idnat": "Identifiant national (idNat)",
        "submit": "Se connecter",
        "wait": "Validez la connexion sur votre application e-CPS",
        "wait_hint": "Cette page se met à jour dès que votre téléphone a répondu.",
        "error": "Erreur",
        "logged_out": "Vous êtes déconnecté de Pro Santé Connect.",
        "confirm_logout": "Voulez-vous vous déconnecter de Pro Santé Connect ?",
        "logout": "Se déconnecter",
        "consent": "{client} demande l'accès à votre identité professionnelle.",
        "allow": "Autoriser",
    },
    "en": {
        "title": "Pro Santé Connect — simulator",
        "heading": "Sign in with Pro Santé Connect",
        "choose": "Choose how to identify yourself",
        "card": "CPS card",
        "ecps": "e-CPS app",
        "idnat": "National identifier (idNat)",
        "submit": "Sign in",
        "wait": "Approve the sign-in in your e-CPS app",
        "wait_hint": "This page updates as soon as your phone has answered.",
        "error": "Error",
        "logged_out": "You are signed out of Pro Santé Connect.",
        "confirm_logout": "Do you want to sign out of Pro Santé Connect?",
        "logout": "Sign out",
        "consent": "{client} asks for access to your professional identity.",
        "allow": "Allow",
    },
}

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#1e1e1e}"
    "h1{color:#000091;font-size:1.4rem}fieldset{border:1px solid #ddd;padding:1rem}"
    "label{display:block;margin:.5rem 0}input[type=text]{width:100%;padding:.4rem}"
    "button{background:#000091;color:#fff;border:0;padding:.6rem 1.2rem;margin-top:1rem}"
    ".error{color:#ce0500}"
)


def language(ui_locales: str | None) -> str:
    """The first of the ui_locales (OIDC Core §3.1.2.1) we speak; French otherwise."""
    for tag in (ui_locales or "").split():
        lang = tag.split("-")[0].lower()
        if lang in TEXT:
            return lang
    return "fr"


def _page(lang: str, body: str, head: str = "") -> str:
    t = TEXT[lang]
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{t['title']}</title><style>{STYLE}</style>{head}</head>"
        f"<body>{body}</body></html>"
    )


def login(lang: str, tx: str, login_hint: str | None, error: str | None = None) -> str:
    t = TEXT[lang]
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _page(
        lang,
        f"<h1>{t['heading']}</h1>{message}"
        f'<form id="login" method="post" action="/auth/login">'
        f'<input type="hidden" name="tx" value="{escape(tx)}">'
        f"<fieldset><legend>{t['choose']}</legend>"
        f'<label><input type="radio" name="method" value="cps" checked> {t["card"]}</label>'
        f'<label><input type="radio" name="method" value="ecps"> {t["ecps"]}</label></fieldset>'
        f'<label for="idNat">{t["idnat"]}</label>'
        f'<input type="text" id="idNat" name="idNat" autocomplete="username" '
        f'value="{escape(login_hint or "")}" required>'
        f'<button type="submit">{t["submit"]}</button></form>',
    )


def ecps_wait(lang: str, tx: str) -> str:
    t = TEXT[lang]
    # Polls the status and reloads once when the phone answered; the meta refresh is for
    # browsers without JS only: both at once could reload twice, and the second reload would
    # find the transaction already used.
    # Percent-encoded, the tx is only ASCII letters, digits, "%-._~": safe in the script's
    # string and its URL alike (HTML escaping would stay literal inside <script>).
    script = (
        "<script>const p=setInterval(async()=>{const r=await fetch('/auth/ecps/status?tx="
        f"{quote(tx, safe='')}');const s=(await r.json()).status;"
        "if(s!=='pending'){clearInterval(p);location.reload()}},1000)</script>"
    )
    return _page(
        lang,
        f'<h1>{t["heading"]}</h1><p id="ecps-pending">{t["wait"]}</p><p>{t["wait_hint"]}</p>',
        head=f'<noscript><meta http-equiv="refresh" content="2"></noscript>{script}',
    )


def error(lang: str, message: str) -> str:
    t = TEXT[lang]
    return _page(lang, f'<h1>{t["error"]}</h1><p class="error" role="alert">{escape(message)}</p>')


def logged_out(lang: str) -> str:
    return _page(lang, f"<h1>{TEXT[lang]['logged_out']}</h1>")


def confirm_logout(lang: str, action: str, hidden: dict[str, str]) -> str:
    t = TEXT[lang]
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    return _page(
        lang,
        f'<h1>{t["confirm_logout"]}</h1><form method="post" action="{escape(action)}">'
        f'{fields}<input type="hidden" name="confirm" value="yes">'
        f'<button type="submit">{t["logout"]}</button></form>',
    )


def consent(lang: str, action: str, key: str, client_id: str) -> str:
    """The consent-page quirk: the user grants the client access (one named button)."""
    t = TEXT[lang]
    return _page(
        lang,
        f"<h1>{escape(t['consent'].format(client=client_id))}</h1>"
        f'<form id="consent" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="c" value="{escape(key)}">'
        f'<button type="submit" name="consent" value="yes">{t["allow"]}</button></form>',
    )


def form_post(redirect_uri: str, params: dict[str, str]) -> str:
    """OAuth 2.0 Form Post Response Mode: an auto-submitting form to the client."""
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Submit</title></head>'
        '<body onload="document.forms[0].submit()">'
        f'<form method="post" action="{escape(redirect_uri)}">{fields}'
        '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
    )
