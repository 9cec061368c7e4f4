#!/usr/bin/env bash
# Install llmkit and run its main job, configs/pipelines/tiny-gpt.yaml: tokenizer → packed data
# (the shipped corpus, llmkit/corpus/tinyshakespeare.txt) → tiny GPT → instruction tuning → eval
# → hf + gguf export, then a sample. A few minutes on 2 CPU cores. Re-running is cheap: unchanged
# stages are skipped, an interrupted training stage continues from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -c constraints.txt torch==2.13.0   # the CPU wheel; unpinned pulls CUDA
python -m pip install --quiet -c constraints.txt -e .

llmkit run configs/pipelines/tiny-gpt.yaml       # report: runs/tiny-gpt-pipeline/report.md
# the prompt in the chat format the sft stage trained on (llmkit's default template)
llmkit generate runs/tiny-gpt-pipeline/export-hf \
  --prompt $'<|user|>\nGive three tips for staying healthy.<|endoftext|>\n<|assistant|>\n' \
  --set generation.max_new_tokens=60 --set generation.do_sample=true --set generation.top_k=40 \
  --set generation.seed=1
