"""Fine-tuning a pretrained CNN: models, input pipeline, phases, resume, adversarial and test-time augmentation."""
