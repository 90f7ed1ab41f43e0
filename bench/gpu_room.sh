#!/bin/bash
# gpu_room.sh makes room for a device call (bench/README.md, "Training on a
# lent GPU"): the device tool sends the tracked files and the untracked ones
# git does not ignore, 64 MiB in all, and the tracked tree alone is over it.
# The model files a stage-2 run does not read leave the transfer for the
# session: untracked in the index (the files stay on disk) and ignored in
# .git/info/exclude, with .gpu/ (gpu_pack.sh's photos) ignored too.
#
#	bash bench/gpu_room.sh make   # before the device calls: prints what travels
#	bash bench/gpu_room.sh undo   # after them, BEFORE any commit
#
# Between the two, `git status` shows the four files as staged deletions:
# a commit then would delete them from the repository.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
files=(models/gen.safetensors models/student.safetensors models/real.safetensors models/real-student.safetensors)
exclude=.git/info/exclude
case ${1:-} in
make)
	git rm -q --cached -- "${files[@]}"
	for p in "${files[@]/#//}" /.gpu/; do
		grep -qxF "$p" "$exclude" || echo "$p" >>"$exclude"
	done
	tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
	other=$(git ls-files -z --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
	gpu=0
	[ -d .gpu ] && gpu=$(du -sb .gpu | cut -f1)
	echo "travels: tracked $((tracked / 1000000)) MB, untracked not ignored $((${other:-0} / 1000000)) MB, .gpu (carry) $((gpu / 1000000)) MB; the limit is 67 MB"
	;;
undo)
	git reset -q -- "${files[@]}"
	for p in "${files[@]/#//}"; do
		grep -vxF "$p" "$exclude" >"$exclude.tmp" || true
		mv "$exclude.tmp" "$exclude"
	done
	git status --short -- models/
	;;
*)
	echo "usage: bash bench/gpu_room.sh make|undo" >&2
	exit 2
	;;
esac
