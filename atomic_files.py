"""Files written whole or not at all, with the permissions a user expects.

Every file the toolkit writes goes to a temp name in the same folder and is
renamed into place, so a killed run never leaves a half-written file under a
name a rerun would trust. `tempfile.mkstemp` creates its file `-rw-------`
and `mkdtemp` its folder `drwx------` whatever the process umask says; the
helpers here give them the mode an ordinary `open()` or `mkdir` would have
(0666 or 0777 less the umask) before the rename, so results, label maps and
SavedModels are as readable as the checkpoints beside them. Temp names carry
the writer's pid and host, so a rerun can remove what a killed process left
(remove_stale_temp) without touching a live writer's.
"""

import json
import os
import re
import shutil
import socket
import tempfile

from absl import logging


def current_umask():
  """The process umask (read by setting it and putting it back)."""
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def file_mode():
  """Mode of a new ordinary file under the current umask (e.g. 0644)."""
  return 0o666 & ~current_umask()


def dir_mode():
  """Mode of a new folder under the current umask (e.g. 0755)."""
  return 0o777 & ~current_umask()


def _owner_tag():
  """`<pid>@<host>-`: who writes a temp name, so a later run can tell the
  leftovers of a killed process (remove_stale_temp) from a live writer's."""
  host = re.sub(r"\W", "_", socket.gethostname()) or "host"
  return "%d@%s-" % (os.getpid(), host)


# A temp name made here: <prefix ending in .tmp-[word-]><pid>@<host>-<random>.
_TEMP_NAME = re.compile(r"\.tmp-(?:\w+-)?(\d+)@(\w+)-[^/]*$")


def _process_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # another user's
  return True


def remove_stale_temp(directory):
  """Removes the temp files and folders of dead processes on this machine.

  A process killed while writing leaves its temp name behind (never the
  final name, so nothing trusts it); a rerun tidies these up. Names of live
  processes, of other machines (a shared folder) and of older toolkit
  versions are left alone.

  Returns:
    The names removed.
  """
  if not os.path.isdir(directory):
    return []
  host = _owner_tag().split("@", 1)[1][:-1]
  removed = []
  for name in sorted(os.listdir(directory)):
    match = _TEMP_NAME.search(name)
    if (not match or match.group(2) != host or
        _process_alive(int(match.group(1)))):
      continue
    path = os.path.join(directory, name)
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      try:
        os.remove(path)
      except FileNotFoundError:
        pass
    removed.append(name)
  if removed:
    logging.info("Removed %s, left in %s by a killed run", ", ".join(removed),
                 directory)
  return removed


def make_temp_file(directory, prefix=".tmp-", suffix=""):
  """A new empty temp file in `directory` with the umask's mode.

  Returns:
    Its path (the caller writes it, then renames or removes it).
  """
  os.makedirs(directory, exist_ok=True)
  fd, path = tempfile.mkstemp(prefix=prefix + _owner_tag(), suffix=suffix,
                              dir=directory)
  os.close(fd)
  os.chmod(path, file_mode())
  return path


def make_temp_dir(directory, prefix=".tmp-"):
  """A new temp folder in `directory` with the umask's mode."""
  os.makedirs(directory, exist_ok=True)
  path = tempfile.mkdtemp(prefix=prefix + _owner_tag(), dir=directory)
  os.chmod(path, dir_mode())
  return path


def write_bytes_atomic(path, data):
  """Writes `data` to `path` through a temp file and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  tmp_path = make_temp_file(directory)
  try:
    with open(tmp_path, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())  # on disk before the name points at it
    os.replace(tmp_path, path)
  except OSError as e:
    if not e.errno:
      raise
    # A full disk or a folder in the way: name the file the caller wrote,
    # not the temp file.
    raise OSError(e.errno, e.strerror or os.strerror(e.errno), path) from e
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


def write_text_atomic(path, text):
  """Writes UTF-8 text to `path`: never half-written, umask respected."""
  write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, data):
  """Writes `data` as indented, key-sorted JSON (UTF-8, not escaped)."""
  write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True,
                                     ensure_ascii=False) + "\n")
