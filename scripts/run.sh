#!/usr/bin/env bash
# make run: start what exists of Gregor so far.
#
# The storage engine and configuration are built (issue: foundation). The
# network server, ZooKeeper registration and the controller come with the
# broker issue; until then this builds the binary, shows what it can do, and
# exits successfully.
set -euo pipefail
data_dir=${1:-data}
bin=bin/gregor

echo "gregor: built $bin"
echo
echo "Not built yet: the network listener on localhost:9092, ZooKeeper"
echo "registration and the controller. 'make run' will start a single-node"
echo "ZooKeeper and one broker once they exist."
echo
echo "What works today:"
echo "  $bin version"
echo "  $bin dump-log --files <log.dirs>/<topic>-<partition>/00000000000000000000.log --print-data-log"
echo
echo "Data will live under: $data_dir"
