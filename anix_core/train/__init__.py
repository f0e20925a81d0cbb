"""Post-training and distillation of the AniX model: data, LoRA flow matching, DMD2."""
