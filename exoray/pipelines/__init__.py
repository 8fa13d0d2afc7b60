"""exoray.pipelines"""
