"""Image models: the multi-view RGB-D masked autoencoder ImageED (:mod:`.vit_mae`) and ResNet-18
with EDG's ED-aware teacher (:mod:`.resnet`)."""
