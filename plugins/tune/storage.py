"""Where a study lives: its Optuna storage (an SQLite file in the study folder, a journal
file, or a PostgreSQL server that several workers share), the study opened there with its
sampler and pruner, and the check that it was made with the settings the command names.
Optuna is imported inside the functions, never at plugin import."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub_tune.identity import check_same_study
from ganhub_tune.samplers import trial_seeded

from ganhub.config.schema import expand_path_text
from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from ganhub_tune.study import Study


def make_pruner(study: Study) -> Any:
    """The Optuna pruner named by pruner= (none for multi-objective studies)."""
    import optuna

    if study.options.pruner == "none" or len(study.objectives) > 1:
        return optuna.pruners.NopPruner()
    if study.options.pruner == "hyperband":
        steps = study.base_config.trainer.steps
        return optuna.pruners.HyperbandPruner(min_resource=max(1, steps // 4), max_resource=steps)
    # no verdict in the first quarter of a run: early evaluations of GANs say little
    warmup = study.base_config.trainer.steps // 4
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)


STORAGE_FORMS = (
    "sqlite:///PATH.db, postgresql://USER@HOST/DB, or a journal file PATH.journal (or PATH.log)"
)
JOURNALS = (".journal", ".log")
# the pip package of each database driver module SQLAlchemy's dialects import
DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "psycopg": "'psycopg[binary]'",
                   "MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "mysql": "mysql-connector-python",
                   "oracledb": "oracledb", "pyodbc": "pyodbc", "pymssql": "pymssql"}  # fmt: skip


def masked(url: str) -> str:
    """A storage URL as a message shows it: its password (USER:PASSWORD@) as ***."""
    found = _PASSWORD.match(url)
    return url if found is None else f"{url[: found.start(1)]}***{url[found.end(1) :]}"


# USER:PASSWORD@ after the scheme; the password up to the last @ (it may hold one)
_PASSWORD = re.compile(r"^[\w+.-]+://[^:/@]*:(.*)@(?=[^@]*$)")


# an SQLite URL: its scheme (with a driver: sqlite+pysqlite) and the database path after it
_SQLITE_PATH = re.compile(r"(sqlite(?:\+\w+)?:///)(.*)", re.DOTALL)


def expand_storage(url: str) -> str:
    """`storage=` with `~` and `$VAR` expanded in the path of a file on this machine, as ganhub
    reads the paths it is given (`expand_path_text`): a journal file's, an SQLite database's
    (`sqlite:///~/studies/x.db` is `sqlite:////home/me/studies/x.db`, an absolute path; a path
    without them stays as typed: `sqlite:///x.db` is x.db in the current folder). A server's
    URL stays as typed: a `$` or `~` there is part of a name or a password."""
    if url.endswith(JOURNALS):
        return expand_path_text(url)
    found = _SQLITE_PATH.fullmatch(url)
    return url if found is None else found[1] + expand_path_text(found[2])


def check_storage(url: str, typed: str | None = None) -> None:
    """Refuse a `storage=` that names no usable storage before the study folder is made: an
    unknown kind, a journal file's missing folder, a database whose driver is not installed.
    `url` is `expand_storage`'s; the line names `storage=` as typed (`typed`, default `url`),
    then the expanded path it is about (`storage=sqlite:///~/x/s.db: the folder /home/me/x
    does not exist`)."""
    typed = url if typed is None else typed
    if url.endswith(JOURNALS):
        _check_file(typed, Path(url).expanduser(), "journal")
        _check_journal(typed, Path(url).expanduser())
        return
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    local = _new_file(url, existing=True)
    if local is not None and url.startswith("sqlite:"):
        _check_file(typed, local, "database")

    try:
        dialect = make_url(_driver_url(url)).get_dialect()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError):
        raise ConfigError(
            f"storage={masked(typed)}: not a storage ganhub tune can open; give {STORAGE_FORMS}"
        ) from None
    try:  # SQLAlchemy imports the driver only when it connects (Optuna: a traceback)
        importer: Any = getattr(dialect, "import_dbapi", None) or dialect.dbapi  # SQLAlchemy 1.4
        importer()
    except ImportError as exc:
        module = exc.name or "its driver"
        package = DRIVER_PACKAGES.get(module.split(".")[0], f"the package that provides {module}")
        raise ConfigError(
            f"storage={masked(typed)}: the {dialect.name} driver (Python module {module}) is not "
            f"installed: pip install {package}, or give {STORAGE_FORMS}"
        ) from None


def _check_file(url: str, path: Path, kind: str) -> None:
    """A storage file on this machine must be a file in a folder that exists (SQLite and
    Optuna's journal say `unable to open database file` or a bare OS error); `url` as typed,
    `path` the file it names, `~` and $VAR expanded."""
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"storage={masked(url)}: {path} is a folder; give the path of a "
                          f"{kind} file ({_example(url, path)})")  # fmt: skip
    if not folder.is_dir():
        if folder.exists():
            raise ConfigError(f"storage={masked(url)}: {folder} is a file, not a folder; give "
                              f"a {kind} file in a folder")  # fmt: skip
        relative = ""
        if url.startswith("sqlite:") and not path.is_absolute():  # sqlite:///a/b: relative
            relative = f" (in the current folder: sqlite:////{str(path).lstrip('/')} is absolute)"
        raise ConfigError(f"storage={masked(url)}: the folder {folder}{relative} does not exist; "
                          f"create it (mkdir -p {folder}), or give a {kind} file in a folder "
                          "that exists")  # fmt: skip
    if not path.exists() and not os.access(folder, os.W_OK):
        raise ConfigError(
            f"storage={masked(url)}: the folder {folder} is not writable, so the {kind} file "
            "cannot be made there; give a path you can write to"
        )


def _check_journal(url: str, path: Path) -> None:
    """A journal file that exists must begin with one of Optuna's records: Optuna skips a last
    line that is no record (a write cut short), so a one-line file of something else was
    opened, written to, then failed with a JSONDecodeError traceback."""
    try:
        with path.open("rb") as file:
            first = file.readline(1 << 20)
    except OSError:
        return  # a file this process cannot read: opening it says so in one line
    try:
        record = json.loads(first) if first.strip() else {"op_code": None}
    except ValueError:
        record = None
    if not isinstance(record, dict) or "op_code" not in record:
        raise _not_a_store(url, path, "an Optuna journal")


def _example(url: str, folder: Path) -> str:
    if url.endswith(JOURNALS):
        return str(folder / "study.journal")
    return f"sqlite:///{folder / 'study.db'}"


def _open_failed(url: str, path: Path | None, said: str) -> ConfigError:
    """A storage file this machine could not create or open, in one line naming `storage=` as
    typed (`url`) and the file it names (`path`, expanded)."""
    where = f" {path}" if path is not None else ""
    return ConfigError(f"storage={masked(url)}: cannot create or open the file{where} ({said}); "
                       "give a path in a folder you can write to")  # fmt: skip


def _not_a_store(url: str, path: Path | None, kind: str) -> ConfigError:
    """A storage file that exists and holds something else, in one line naming it (Optuna's
    journal raised a JSONDecodeError traceback; SQLite's retried, then said to give a path in
    a folder one can write to)."""
    return ConfigError(
        f"storage={masked(url)}: the file {path} is not {kind}; give a new file's path, or "
        "the one a study wrote"
    )


def open_study(study: Study, checked: Callable[[Any], None] | None = None) -> Any:
    """Create or load the Optuna study in its storage (heartbeats fail trials of dead workers).

    `checked` gets the opened study once it is known to be this command's, before its sampler
    is made (sampler=oneshot trains its supernet there, whose preference the sampler then
    draws from)."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    new_file = _new_file(study.storage_url)  # a refused command removes it again
    typed = study.storage_typed or study.storage_url  # what messages name
    try:
        if study.storage_url.endswith(JOURNALS):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = str(Path(study.storage_url).expanduser())
            try:
                storage: Any = JournalStorage(JournalFileBackend(path))
            except OSError as exc:
                raise _open_failed(typed, Path(path), exc.strerror or str(exc)) from None
            except ValueError:  # a line that is no JSON record: Optuna's JSONDecodeError
                raise _not_a_store(typed, Path(path), "an Optuna journal") from None
        else:
            storage = _rdb_storage(study.storage_url, typed)
        created = not _has_study(storage, study.directory.name)
        opened = optuna.create_study(
            study_name=study.directory.name,
            storage=storage,
            sampler=optuna.samplers.RandomSampler(
                study.options.seed
            ),  # a placeholder until checked
            pruner=make_pruner(study),
            directions=study.directions,  # type: ignore[arg-type]
            load_if_exists=True,
        )
    except BaseException:  # a storage that does not open leaves no empty study folder behind
        _remove_made(study, new_file)
        raise
    try:
        check_same_study(opened, study)
    except ConfigError:
        if created:  # a refused command leaves no empty study behind in the storage
            optuna.delete_study(study_name=study.directory.name, storage=storage)
        if new_file is not None and hasattr(storage, "engine"):
            storage.engine.dispose()  # nor the database file it made (after its connections)
        _remove_made(study, new_file)
        raise
    if checked is not None:
        checked(opened)
    # seeded per trial by its number (unique in the storage): workers started together on one
    # study draw differently; one worker draws what the seed gives
    opened.sampler = trial_seeded(study)
    return opened


def _new_file(url: str, existing: bool = False) -> Path | None:
    """The file a storage on this machine (an SQLite database, a journal) will create, or None
    when there is none or it exists (it may hold other studies: it is never removed);
    `existing`: the file also when it exists."""
    if url.endswith(JOURNALS):
        path = Path(url).expanduser()
    elif url.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        path = Path(database)
    else:
        return None
    return None if os.path.lexists(path) and not existing else path


def _remove_made(study: Study, new_file: Path | None = None) -> None:
    """Remove what opening a study that did not open (or was refused) made: the storage's new
    file, the study folder, then each folder above it up to the outermost that `prepare` made,
    if empty (another worker may use it)."""
    import shutil

    if new_file is not None:
        for path in (new_file, new_file.with_name(new_file.name + "-journal")):
            path.unlink(missing_ok=True)
    if study.made is None:
        return
    shutil.rmtree(study.directory, ignore_errors=True)
    for folder in study.directory.parents:
        if not folder.is_relative_to(study.made):
            break
        try:
            folder.rmdir()
        except OSError:
            break


def _rdb_storage(url: str, typed: str | None = None) -> Any:
    """An RDB storage; workers starting together may race to create the tables, so retry.
    Its errors show `storage=` as typed (`typed`, default `url`) with its password masked."""
    import random
    import time

    import sqlalchemy.exc
    from optuna.storages import RDBStorage

    driver_url = _driver_url(url)
    for attempt in range(5):
        try:
            return RDBStorage(driver_url, heartbeat_interval=5, grace_period=20,
                              heartbeat_stale_trial_callback=_retry_stale())  # fmt: skip
        except sqlalchemy.exc.SQLAlchemyError as exc:
            said = _without_password(str(exc).splitlines()[0], url)
            if url.startswith("sqlite:") and "file is not a database" in said:  # no race
                path = _new_file(url, existing=True)
                raise _not_a_store(typed or url, path, "an SQLite database") from None
            if attempt == 4 or isinstance(
                exc, sqlalchemy.exc.OperationalError
            ):  # unreachable server
                if url.startswith("sqlite:"):  # `unable to open database file`: say which
                    said = said.removeprefix("(sqlite3.OperationalError) ")
                    raise _open_failed(typed or url, _new_file(url, existing=True), said) from None
                raise ConfigError(f"storage={masked(typed or url)}: {said}") from None
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _driver_url(url: str) -> str:
    """postgresql:// with the driver the `tune` extra installs (psycopg2) unless psycopg 3 is there.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the extra ships psycopg2-binary.
    """
    import importlib.util

    if not url.startswith(("postgresql://", "postgres://")):
        return url
    rest = url.split("://", 1)[1]
    for module, dialect in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{dialect}://{rest}"
    raise ConfigError(f"storage={masked(url)}: no PostgreSQL driver; pip install psycopg2-binary")


def _without_password(text: str, url: str) -> str:
    """A driver's message with the URL's password (as typed, or URL-decoded) masked."""
    from urllib.parse import unquote

    found = _PASSWORD.match(url)
    if found and found[1]:
        for secret in {found[1], unquote(found[1])}:
            text = text.replace(secret, "***")
    return text


def _retry_stale() -> Any:
    """Re-queue (once) the parameters of a trial whose worker died without finishing it."""
    from optuna import storages

    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
        return storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    return storages.RetryFailedTrialCallback(max_retry=1)


def _has_study(storage: Any, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
