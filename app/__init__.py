"""miscomp: find, label and measure miscompressions of neural image codecs."""


def install_session_listeners() -> None:
    """Install the session-wide listeners (audit log, jobs after commit). Idempotent."""
    from app import jobs
    from app.audit import listener

    listener.install()
    jobs.install()
