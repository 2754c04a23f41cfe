"""rosbag2 bag directories: what `ros2 bag record -s mcap` writes (DIR/metadata.yaml + DIR/DIR_0.mcap), written by
`jepa-mpc record --out DIR` and read by `jepa-mpc replay DIR`, so bags go both ways between this package, ROS 2's
own tools and `rosbags`.

Writing: the MCAP file is McapBagWriter's (recorder.py); the directory is built as DIR.partial and renamed to DIR
once the MCAP file is finalized and metadata.yaml (rosbag2 format version 9, as Jazzy/Kilted write it) is on disk,
so DIR exists only when complete. Reading: metadata.yaml names the storage and files; a directory with MCAP
storage in one file is played (split bags, file-level compression and sqlite3 storage are refused with a
BagError saying so).
"""
from __future__ import annotations

import os
import pathlib
import shutil

import yaml

from jepa_mpc.models.atomic_io import fsync_dir
from jepa_mpc.ros_nodes.recorder import PARTIAL_SUFFIX, BagError, McapBagWriter

METADATA = "metadata.yaml"
VERSION = 9
"""rosbag2's metadata format version written (Jazzy and Kilted write 9; `offered_qos_profiles` as YAML lists)."""


def is_directory_target(path: str | os.PathLike) -> bool:
    """`record --out PATH` writes a bag directory unless PATH names an .mcap file."""
    return pathlib.Path(path).suffix.lower() != ".mcap"


class Rosbag2DirWriter:
    """A rosbag2 bag directory around one McapBagWriter file; same interface (add_topic, write, topics,
    message_count, close)."""

    def __init__(self, path: str | os.PathLike, compression: str = "zstd", overwrite: bool = False) -> None:
        self.path = pathlib.Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        for existing in (self.path, self.partial):
            if existing.exists():
                if not overwrite:
                    hint = " (left by a recorder that was killed)" if existing == self.partial else ""
                    raise BagError(f"{existing} already exists{hint}; move it away or pass --overwrite")
                shutil.rmtree(existing) if existing.is_dir() else existing.unlink()
        self.partial.mkdir(parents=True)
        self.file_name = f"{self.path.name}_0.mcap"
        self.mcap = McapBagWriter(self.partial / self.file_name, compression=compression)
        self.closed = False

    @property
    def topics(self):
        return self.mcap.topics

    @property
    def message_count(self) -> int:
        return self.mcap.message_count

    def add_topic(self, *args, **kwargs) -> None:
        self.mcap.add_topic(*args, **kwargs)

    def write(self, *args, **kwargs) -> None:
        self.mcap.write(*args, **kwargs)

    def close(self) -> pathlib.Path:
        """Finalize the MCAP file, write metadata.yaml, rename DIR.partial to DIR; idempotent. Returns DIR."""
        if self.closed:
            return self.path
        self.closed = True
        self.mcap.close()
        text = yaml.safe_dump(metadata(self.mcap, self.file_name), sort_keys=False, default_flow_style=False)
        with open(self.partial / METADATA, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(self.partial)
        os.replace(self.partial, self.path)
        fsync_dir(self.path.parent)
        return self.path


def metadata(writer: McapBagWriter, file_name: str) -> dict:
    """metadata.yaml's content for a one-file MCAP bag, from what the writer recorded."""
    count = writer.message_count
    start = writer.start_ns if count else 0
    duration = max(0, writer.end_ns - writer.start_ns) if count else 0
    return {"rosbag2_bagfile_information": {
        "version": VERSION,
        "storage_identifier": "mcap",
        "duration": {"nanoseconds": duration},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": count,
        "topics_with_message_count": [
            {"topic_metadata": {"name": topic, "type": stats.type, "serialization_format": "cdr",
                                "offered_qos_profiles": list(stats.offered_qos),
                                "type_description_hash": stats.type_hash},
             "message_count": stats.messages}
            for topic, stats in writer.topics.items()],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": [file_name],
        "files": [{"path": file_name, "starting_time": {"nanoseconds_since_epoch": start},
                   "duration": {"nanoseconds": duration}, "message_count": count}],
        "custom_data": {},
        "ros_distro": os.environ.get("ROS_DISTRO", "kilted"),
    }}


def bag_file(directory: pathlib.Path) -> pathlib.Path:
    """The MCAP file of a rosbag2 bag directory, from its metadata.yaml; BagError for what cannot be played."""
    meta_path = directory / METADATA
    if not meta_path.is_file():
        partial = directory.with_name(directory.name + PARTIAL_SUFFIX)
        hint = f" ({partial.name} exists: the recorder was killed before finalizing it)" if partial.exists() else ""
        raise BagError(f"{directory}: a directory without {METADATA}: not a rosbag2 bag{hint}")
    try:
        info = yaml.safe_load(meta_path.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
        storage, files = info["storage_identifier"], list(info["relative_file_paths"])
        compression = info.get("compression_format") or ""
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise BagError(f"{meta_path}: unreadable rosbag2 metadata ({exc!r})") from exc
    if storage != "mcap":
        raise BagError(f"{directory}: storage {storage!r}; only MCAP bags are played (convert with `ros2 bag "
                       "convert` to -s mcap)")
    if compression:
        raise BagError(f"{directory}: file-level {compression} compression is not supported (MCAP chunk "
                       "compression is)")
    if len(files) != 1:
        raise BagError(f"{directory}: split into {len(files)} files; only single-file bags are played")
    return directory / pathlib.PurePath(files[0]).name
