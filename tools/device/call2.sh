# Second call, straight after the first (the machine goes back 30 s after a call): the rest of CIFAR-10,
# its recipe started, then wait (LIMIT seconds at most) and bring back checkpoints, curves and logs in $OUT.
# Carry: .dev/p2.
LIMIT=${LIMIT:-520}; T0=$(date +%s); W=/root/work; D=/root/data; R=$PWD
cp .dev/p2/*.webp .dev/p2/*.npy /root/parts/ && python3 tools/device/webp_cifar.py unpack /root/parts $D/cifar10 || exit 1
cd $W; export VQE_DATA_ROOT=$D OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1
for n in ${MODELS:-cifar10}; do
  setsid nohup python3 $(python3 benchmarks/train_models.py --print-command $n) > /root/logs/$n.log 2>&1 < /dev/null &
done
sleep 5
while pgrep -f "train.py --dataset" > /dev/null && [ $(( $(date +%s) - T0 )) -lt $LIMIT ]; do
  sleep 30; echo "--- $(( $(date +%s) - T0 )) s"
  for f in /root/logs/*.log; do echo "$(basename $f): $(tr '\r' '\n' < $f | grep -v '^\s*$' | tail -n 1 | cut -c1-200)"; done
done
for f in /root/logs/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -E "epoch|export|parameters|rror" | tail -n 30; done
for c in checkpoints/*.safetensors; do   # new or changed ones, in parts of at most 15 MiB: cat them together
  cmp -s $c $R/$c || split -b 15M -d $c $OUT/$(basename $c).part
done
tar czf $OUT/runs.tgz runs/*/curves.png runs/*/metrics.jsonl runs/*/samples.png /root/logs 2>/dev/null
ls -la $OUT
