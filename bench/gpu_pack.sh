#!/bin/bash
# gpu_pack.sh builds the training photos for the PyTorch twins on a lent GPU
# machine (bench/sr_recipe_peer.py --train .gpu/train), small enough for the
# device tool's 64 MiB transfer with an init file beside them: every photo
# of the six training folders except the held-out split (dataset/heldout.txt),
# as JPEG; the large wallpaper folders (photos, wallpapers: 960-1,600 pixels
# wide, 435 of the 492 megapixels) shrunk by half with area averaging, which
# also removes most of their own JPEG artefacts. Usage, from the repository
# root:
#
#	bash bench/gpu_pack.sh [DATA_DIR [OUT_DIR]]   # defaults ../shared/data/train .gpu/train
#
# Set Q for the JPEG quality (default 88: 41 MB for the 683 photos). .gpu/ must be ignored by git
# (echo /.gpu/ >> .git/info/exclude) and named in the run's carry.
set -euo pipefail
data=${1:-../shared/data/train}
out=${2:-.gpu/train}
q=${Q:-88}
bin=$(mktemp -d)/zoomdiff
go build -o "$bin" ./cmd/zoomdiff
heldout=dataset/heldout.txt
n=0
for dir in bsds200 bsds500test skimage t91 photos wallpapers; do
	scale=1
	case $dir in photos | wallpapers) scale=0.5 ;; esac
	while IFS= read -r -d '' f; do
		rel=${f#"$data"/}
		if grep -qxF "$rel" "$heldout"; then
			continue
		fi
		dst=$out/${rel%.*}.jpg
		mkdir -p "$(dirname "$dst")"
		"$bin" upscale "$f" --method area --scale "$scale" --quality "$q" -o "$dst" --quiet
		n=$((n + 1))
	done < <(find "$data/$dir" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' \) -print0 | sort -z)
done
echo "$n photos in $out: $(du -sh "$out" | cut -f1)"
