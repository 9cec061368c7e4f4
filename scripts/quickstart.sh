#!/usr/bin/env bash
# Install llmkit and run its main job on the shipped corpus (llmkit/corpus/tinyshakespeare.txt):
# character tokenizer → packed data → tiny GPT (context 64) → a sample. A few minutes on 2 CPU cores.
# Re-running is cheap: the tokenizer is rebuilt, preprocessing is cached, training resumes.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -c constraints.txt torch==2.13.0   # the CPU wheel; unpinned pulls CUDA
python -m pip install --quiet -c constraints.txt -e .

llmkit tokenizer train configs/tiny-tokenizer.yaml --force   # replaces its own earlier output
llmkit pretrain configs/tiny-gpt.yaml --resume
llmkit generate runs/tiny-gpt --prompt "ROMEO:" --set generation.max_new_tokens=56 \
  --set generation.do_sample=true --set generation.top_k=40 --set generation.seed=1
