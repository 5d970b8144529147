"""The same DCGAN as `plain_pytorch.py`, in ganhub: the loop, data, checkpoints, resume, logging,
samples, mixed precision, torchrun and every trick come from the engine.

    python examples/raw_vs_ganhub/with_ganhub.py
    # or, equivalently:
    ganhub run plugin=dcgan trainer.steps=2500
"""

import ganhub

if __name__ == "__main__":
    summary = ganhub.train(plugin="dcgan", trainer__steps=2500, trainer__batch_size=64)
    model = ganhub.load(summary["run_dir"])
    for path in model.write_samples("ganhub_dcgan_samples"):
        print(path)
