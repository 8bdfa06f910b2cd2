"""Invitation e-mails, through the SMTP server configured (``HUB_ACTIVITIES_SMTP_*``). Without one
nothing is sent: the link is shown to staff, who pass it on themselves."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from services.activities.settings import ActivitiesSettings

log = logging.getLogger(__name__)


def invitation_message(
    settings: ActivitiesSettings, to: str, partner: str, year: str, due_on: str, url: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = settings.smtp_from, to
    message["Subject"] = f"Your {year} return to the music hub"
    message.set_content(
        f"Dear {partner},\n\nPlease send us your {year} return by {due_on}: open this link to "
        f"fill it in (it works once, and expires).\n\n{url}\n\nWith thanks,\nThe music hub team\n"
    )
    return message


def send_invitation(
    settings: ActivitiesSettings, to: str | None, partner: str, year: str, due_on: str, url: str
) -> bool:
    """Send an invitation where SMTP is configured and the partner has an address; True if sent.
    The link is never logged."""
    if not settings.smtp_host or not to:
        return False
    message = invitation_message(settings, to, partner, year, due_on, url)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password_file:
            smtp.login(settings.smtp_username, settings.smtp_password_file.read_text().strip())
        smtp.send_message(message)
    log.info("invitation for the %s return sent by e-mail", year)
    return True
