"""The labeling app: projects, members, images, point targets, masks, model versions and jobs."""
