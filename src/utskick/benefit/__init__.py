"""The simplified benefit model (förenklad nyttomodell): calculator, sensitivity and charts."""
