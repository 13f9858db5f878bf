"""Reading a config file: the bytes, the UTF-8 text, and the YAML, each with a limit.

Whatever is at the config path is read, and it may not be what an operator
wrote: a FIFO, a huge file, an alias bomb, `[[[[...` nested thousands deep, a
key written twice. Each is refused with a ConfigError that says why, before it
costs memory or blocks the event loop. `_line_map` records the line each field
is written on, so later errors can point at it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from slipway.core.errors import ConfigError
from slipway.core.names import shown

#: The largest config file read, in bytes: a routing file is a few KiB, and parsing is not free.
MAX_CONFIG_BYTES = 1024 * 1024
#: Values (scalars, lists, mappings) in the document with every YAML alias expanded.
MAX_CONFIG_VALUES = 10_000
#: Lists and mappings nested in one another.
MAX_CONFIG_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_config_text(path: Path) -> str:
    """The file's text, or a ConfigError: only a regular file, at most MAX_CONFIG_BYTES, UTF-8.

    Opened without blocking so a FIFO or device put in the config's place
    cannot hang the reader, and read with a cap so a huge file is refused
    before it is in memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the path and permissions", source=str(path)
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{path} is not a regular file", hint="point --config at the YAML file", source=str(path)
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"the file is {info.st_size:,} bytes; a config file may be at most "
                f"{MAX_CONFIG_BYTES:,} bytes (1 MiB)",
                hint="a routing file is a few KiB: check that the path names the right file",
                source=str(path),
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the path and permissions", source=str(path)
        ) from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_CONFIG_BYTES:,} bytes (1 MiB), the limit for a config file",
            hint="a routing file is a few KiB: check that the path names the right file",
            source=str(path),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="a config file is YAML text; save it as UTF-8",
            source=str(path),
        ) from None


def load_yaml(text: str, source: str = "<config>") -> tuple[Any, yaml.Node | None]:
    """The document and its node graph, refused (ConfigError) when too big, too deep, or ambiguous."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,} bytes (1 MiB)",
            hint="a routing file is a few KiB: check that the path names the right file",
            source=source,
        )
    try:
        _check_events(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            _check_nodes(node, source)
            return loader.construct_document(node), node
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"not valid YAML: {problem}", hint="fix the syntax and save again", source=source, line=line
        ) from exc


def _line_map(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    # Bounded by load_yaml: at most MAX_CONFIG_DEPTH deep and MAX_CONFIG_VALUES expanded.
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            _line_map(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, str(i)), out)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _check_events(text: str, source: str) -> None:
    """Refuse deep nesting and too many values from the event stream, before anything builds the tree.

    The event parser keeps its own stack, so this pass cannot run out of C
    stack on `[[[[...` the way composing (or a later tree walk) could; and it
    stops at the first value over the limit, so a file of half a million
    values costs milliseconds here instead of seconds of composing, which in
    the C parser is one call that holds the GIL, and so the event loop.
    """
    loader = _Loader(text)
    try:
        depth = 0
        values = 0
        while (event := loader.get_event()) is not None and not isinstance(event, yaml.StreamEndEvent):
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent):
                values += 1
                if values > MAX_CONFIG_VALUES:
                    raise ConfigError(
                        f"the file holds more than {MAX_CONFIG_VALUES:,} values, the limit for a config file",
                        hint="a routing file needs a few hundred: check that the path names the right file",
                        source=source,
                        line=event.start_mark.line + 1 if event.start_mark is not None else None,
                    )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_CONFIG_DEPTH:
                    raise ConfigError(
                        f"lists and mappings are nested more than {MAX_CONFIG_DEPTH} deep",
                        hint="a routing file needs a few levels; this is not a routing file",
                        source=source,
                        line=event.start_mark.line + 1 if event.start_mark is not None else None,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Duplicate keys, alias loops and alias bombs, in one pass over the composed graph (no recursion).

    An alias is a reference: a 400-byte file can name a billion values, and
    everything after parsing (line numbers, validation) walks them expanded.
    So the expanded size is computed first, once per node, and capped.
    """
    expanded: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            if isinstance(node, yaml.MappingNode):
                _no_duplicate_keys(node, source)
            continue
        if key in expanded:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise ConfigError(
                    "an alias refers to a list or mapping that contains it (a loop)",
                    hint="replace the alias with the values it should repeat",
                    source=source,
                    line=child.start_mark.line + 1,
                )
            if id(child) not in expanded:
                stack.append((child, False))
    total = expanded[id(root)]
    if total > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"the file holds {total:,} values once its aliases (*name) are expanded; "
            f"the limit is {MAX_CONFIG_VALUES:,}",
            hint="write the values out, or use fewer aliases; a routing file needs a few hundred",
            source=source,
        )


def _no_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        ident = (key_node.tag, key_node.value)
        first = seen.get(ident)
        if first is not None:
            raise ConfigError(
                f"key {shown(key_node.value)} appears twice in the same mapping, on lines {first} and {line}",
                hint="keep one of them: YAML would silently use the last one",
                source=source,
                line=line,
            )
        seen[ident] = line
