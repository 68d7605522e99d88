# coding=utf-8
"""The largest inputs the readers accept, and the checks that hold them.

A reader's memory grows with the longest unit it handles in one piece, not
only with the file: tokenizing one line with character offsets takes about
130 bytes per character, splitting a SQuAD context about 50. So each unit
has a ceiling, and past it the reader raises its own one-line error
(`path:LINE: ...`) before that unit is read into memory:

  MAX_LINE_BYTES       one line of a text file: a CoNLL word line, a raw-text
                       sentence, a TSV/CSV/JSONL record, a pretraining
                       corpus line, a label file line (4 MiB, UTF-8 bytes,
                       the line end not counted);
  MAX_TEXT_CHARS       one text inside a JSON file: a SQuAD context or
                       question (4 Mi characters);
  MAX_JSON_FILE_BYTES  a file parsed whole as one JSON document: a SQuAD
                       file, predictions.json (512 MiB; parsing takes about
                       ten times the file in memory; SQuAD 2.0's training
                       file is 40 MiB).

The limits are module constants, read when a reader runs, so tests (or a
user with unusual data and memory to match) can change them.

Google's scripts have no such limits: a long line or file is read whole
and tokenized until memory runs out (run_classifier.py's CSV reader stops
at 128 KiB fields with a traceback).
"""

import os

MAX_LINE_BYTES = 4 << 20
MAX_TEXT_CHARS = 4 << 20
MAX_JSON_FILE_BYTES = 512 << 20

_CHUNK_BYTES = 1 << 20


def find_long_line(path, limit=None):
  """Finds the first line of a file longer than `limit` bytes, streaming.

  Reads the file in chunks of at most 1 MiB, so a file that is one endless
  line is never held in memory. Lines end at "\\n", "\\r\\n" or "\\r" (as the
  readers number them); the line end does not count.

  Args:
    path: str, a local file.
    limit: int, bytes; default MAX_LINE_BYTES (read at call time).

  Returns:
    None if every line fits, else the 1-based number of the first line
    that does not.
  """
  limit = MAX_LINE_BYTES if limit is None else limit
  if os.path.getsize(path) <= limit:
    return None  # No line can be longer than the whole file.
  # With chunks no longer than the limit, a line inside one chunk always
  # fits: only the line running across chunk boundaries needs counting.
  chunk_size = max(1, min(_CHUNK_BYTES, limit))
  line_number, run, last_was_cr = 1, 0, False
  with open(path, "rb") as f:
    while True:
      chunk = f.read(chunk_size)
      if not chunk:
        return None
      first = min(_find(chunk, b"\n"), _find(chunk, b"\r"))
      if first == len(chunk):  # No line end: the running line grows.
        run += len(chunk)
        if run > limit:
          return line_number
        last_was_cr = False
        continue
      if run + first > limit:
        return line_number
      breaks = (chunk.count(b"\n") + chunk.count(b"\r") -
                chunk.count(b"\r\n"))
      if last_was_cr and chunk.startswith(b"\n"):
        breaks -= 1  # "\r\n" split across two chunks ends one line.
      line_number += breaks
      last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
      run = len(chunk) - last - 1
      last_was_cr = chunk.endswith(b"\r")


def _find(data, needle):
  """data.find(needle), or len(data) when it is absent."""
  index = data.find(needle)
  return len(data) if index < 0 else index


def line_too_long(limit=None):
  """The over-limit message, to follow `path:LINE: `."""
  limit = MAX_LINE_BYTES if limit is None else limit
  return ("line longer than %s bytes (input_limits.MAX_LINE_BYTES), the most "
          "one line may hold; expected text broken into lines (one word, "
          "sentence or record a line)" % format(limit, ","))


def json_file_too_big(path, limit=None):
  """None if `path` fits MAX_JSON_FILE_BYTES, else the message (after
  `path: `)."""
  limit = MAX_JSON_FILE_BYTES if limit is None else limit
  size = os.path.getsize(path)
  if size <= limit:
    return None
  return ("%s bytes, over the %s (input_limits.MAX_JSON_FILE_BYTES) read as "
          "one JSON document; split it into smaller files (a SQuAD file: "
          "its \"data\" list of articles)" % (format(size, ","),
                                            format(limit, ",")))
