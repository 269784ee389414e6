# First call on a lent GPU machine: MNIST and part of CIFAR-10 to /root/data, a copy of the repository to
# train in (/root/work, outside what the next call re-sends), MNIST 14x14 started in its own session so it
# runs on between calls. Carry: .dev/p1 (see README.md here).
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.is_available())"
W=/root/work; D=/root/data; mkdir -p $D/mnist /root/parts /root/logs
rm -rf $W && mkdir -p $W && tar --exclude=./.dev -cf - . | tar -xf - -C $W
cp .dev/p1/*.gz $D/mnist/ && cp .dev/p1/*.webp .dev/p1/*.npy /root/parts/ || exit 1
python3 tools/device/webp_cifar.py unpack /root/parts $D/cifar10 || exit 1
cd $W; export VQE_DATA_ROOT=$D OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1
for n in ${MODELS:-mnist_14x14}; do
  setsid nohup python3 $(python3 benchmarks/train_models.py --print-command $n) > /root/logs/$n.log 2>&1 < /dev/null &
done
sleep 40; for f in /root/logs/*.log; do echo "$f: $(tr '\r' '\n' < $f | tail -n 1 | cut -c1-200)"; done
