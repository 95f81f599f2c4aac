"""The small-weight diagnostic (clbench inspect): |w| against |gradient| in early fine-tuning."""
